"""The crawl of a night: one Scrapy Crawler per spider kind for every due target.

``run`` starts it and records the run; ``settings`` and ``addon`` give every way of crawling
(``monitor crawl``/``nightly``, plain ``scrapy crawl``) the same settings; the rest are the
Scrapy components that keep thousands of shops in one crawl apart and fair: per-target counters
(``stats``), the fair priority queue (``pqueues``), the revisit policy (``revisit``), trap
signatures (``traps``), resumable job state (``jobstate``), the private-address-refusing
resolver (``resolver``), stopping a target on storage faults (``faults``) and the one-run lock
(``lock``). Nothing is imported here, so loading one of them loads no other.
"""
