"""pykka actors: the only place in revops where concurrency lives."""
