#!/usr/bin/env python3
"""Fill empty translations of a .po file from a JSON object {msgid: msgstr} on stdin.

Usage: scripts/fill_po.py APP/locale/zh_Hans/LC_MESSAGES/django.po < translations.json
Only entries whose msgstr is empty are filled; existing translations are kept. Prints the
msgids that are still untranslated.
"""

import json
import re
import sys


def unquote(lines):
    return "".join(json.loads(line) for line in lines)


def main(path: str) -> None:
    translations = json.load(sys.stdin)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    blocks = text.split("\n\n")
    missing = []
    for index, block in enumerate(blocks):
        match = re.search(r'^msgid ((?:".*"\n?)+)^msgstr ((?:".*"\n?)+)', block + "\n", re.M)
        if not match or "msgid_plural" in block:
            continue
        msgid = unquote([line for line in match.group(1).split("\n") if line])
        msgstr = unquote([line for line in match.group(2).split("\n") if line])
        if not msgid or msgstr:
            continue
        if msgid in translations:
            quoted = json.dumps(translations[msgid], ensure_ascii=False)
            start, end = match.span(2)
            block = (block + "\n")[:start] + quoted + "\n" + (block + "\n")[end:]
            block = block.replace("#, fuzzy\n", "")
            blocks[index] = block.rstrip("\n")
        else:
            missing.append(msgid)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n\n".join(blocks).rstrip("\n") + "\n")
    for msgid in missing:
        print("untranslated:", msgid)


if __name__ == "__main__":
    main(sys.argv[1])
