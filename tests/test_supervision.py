from revops.supervision import RestartBudget


def test_restarts_allowed_up_to_limit_within_window():
    b = RestartBudget(limit=3, window=60)
    allowed = []
    for t in (0, 10, 20, 30):
        b, ok = b.try_restart(t)
        allowed.append(ok)
    assert allowed == [True, True, True, False]


def test_window_slides():
    b = RestartBudget(limit=2, window=60)
    b, _ = b.try_restart(0)
    b, _ = b.try_restart(30)
    b, ok = b.try_restart(59)
    assert not ok
    b, ok = b.try_restart(61)  # the crash at 0 left the window
    assert ok
    assert b.restarts == (30, 61)
