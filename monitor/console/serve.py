"""`monitor serve`: run the console with uvicorn.

On a loopback address nobody else can reach it. Bound to any other address it is reachable
from the network, so it refuses to start unless a login token is set.
"""

from __future__ import annotations

import ipaddress
import sys

from monitor.config import Config
from monitor.console.security import TOKEN_ENV

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
EXIT_REFUSED = 2


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: whatever it resolves to, treat as reachable


def serve(config: Config, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> int:
    import uvicorn

    from monitor.console.app import console_token, create_app

    token = console_token(config)
    if not is_loopback(host) and not token:
        print(
            f"error: refusing to serve on {host}: off loopback the console needs a login token "
            f"(console.token in {config.path} or {TOKEN_ENV})",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    app = create_app(config, token)
    shown = f"[{host}]" if ":" in host else host
    print(
        f"线索查询控制台 console: http://{shown}:{port}/"
        + ("  (需要口令登录 login with the token)" if token else "")
        + "  按 Ctrl+C 停止",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return 0
