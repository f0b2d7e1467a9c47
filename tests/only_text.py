"""Is a file only text, as safe_text.h promises: UTF-8 lines with no control
character (C0 but the line feed, DEL, C1) and no bidirectional or line-
separator character?  Prints what it found; exit 1 if not.

  only_text.py FILE [MUST-CONTAIN...]
"""
import sys

ESCAPED = set(range(0x20)) | set(range(0x7f, 0xa0)) | {0x200e, 0x200f} | \
    set(range(0x2028, 0x202f)) | set(range(0x2066, 0x206a))
raw = open(sys.argv[1], "rb").read()
try:
    text = raw.decode("utf-8")
except UnicodeDecodeError as e:
    sys.exit("not UTF-8: %s" % e)
bad = [hex(ord(c)) for c in text if ord(c) in ESCAPED and c != "\n"]
if bad:
    sys.exit("characters that reach a terminal raw: %s" % bad)
for want in sys.argv[2:]:
    if want not in text:
        sys.exit("missing: %r in %r" % (want, text))
