"""Beyond one machine: scrapy-redis workers sharing one run's queue and duplicate filter.

``monitor nightly --distributed`` (the coordinator) starts the CrawlRun, seeds each spider's
scrapy-redis queue with the enabled targets' start requests, and waits until the run has drained;
``monitor worker`` (any number, on any machine) crawls from those queues with the ordinary
spiders and pipelines, writing to the shared PostgreSQL and evidence folder.

What scrapy-redis leaves to us, and where it is handled:

- persistence: SCHEDULER_PERSIST is on, so a worker that stops never wipes the shared queue and
  duplicate filter; the coordinator deletes the run's keys once it has drained (:mod:`.keys`);
- fingerprints: scrapy-redis ignores meta, so a rendered and a plain request for one URL would
  collide; :class:`.scheduler.RenderAwareDupeFilter` adds the render flag;
- acknowledgement: a popped request is moved atomically into the worker's in-flight hash,
  leased by a heartbeat; once the engine has finished with it, it is removed; a dead worker's
  lease expires and its in-flight requests go back into the queue (:mod:`.scheduler`, :mod:`.worker`);
- draining: the queue empty, nothing in flight and every worker idle means the run is over; the
  coordinator says so and idle workers close (:mod:`.coordinator`);
- statistics: each worker adds its per-target counters to one Redis hash per run (HINCRBY), merged
  by the coordinator into the CrawlRun (scrapy-redis's stats are per spider, not per run);
- serialisation: requests are pickled through request_to_dict, so callbacks are spider methods
  and page methods plain PageMethod objects (never lambdas).
"""
