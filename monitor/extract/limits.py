"""Bounds on what one page may cost to read, so a hostile page cannot hide a listing or stop a crawl.

Every reader parses first and cuts after: a huge title is clipped, not refused; deep JSON is
skipped script by script, not page by page; deep markup is re-read flattened. The figures are
generous for real shops (a Taobao item page carries ~300 KB of script state).
"""

MAX_TITLE = 300  # characters kept of a title
MAX_TEXT = 20000  # characters kept of a listing's text
MAX_SCRIPT = 2_000_000  # characters of one script read for structured data or page state
MAX_JSON_DEPTH = 64  # nesting walked in JSON-LD and page state
MAX_JSON_NODES = 20000  # values visited in one JSON walk
MAX_CANDIDATES = 200  # product titles taken from one list page
MARKUP_DEPTH = 1500  # an element this deep means lxml may have stopped reading the page
# attributes kept on one tag: libxml2 checks each new attribute against all the previous ones,
# so a tag with 30,000 attributes (300 KB) takes minutes to parse, blocking the whole crawl
MAX_ATTRIBUTES = 256
