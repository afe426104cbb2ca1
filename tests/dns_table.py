"""A resolver for tests: names in $MONITOR_TEST_DNS_TABLE (JSON, name -> address) resolve from
the table, everything else as usual. Only the name -> address step is replaced: the check of
monitor.crawl.resolver, the connection and the server stay real (there is no DNS server to rebind
on this machine). Use: ``scrapy crawl ... -s TWISTED_DNS_RESOLVER=tests.dns_table.TableResolver``.
"""

from __future__ import annotations

import json
import os

from twisted.internet import defer

from monitor.crawl.resolver import PublicAddressResolver


class TableResolver(PublicAddressResolver):
    def resolve(self, name, timeout):
        table = json.loads(os.environ.get("MONITOR_TEST_DNS_TABLE") or "{}")
        if name in table:
            return defer.succeed(table[name])
        return super().resolve(name, timeout)
