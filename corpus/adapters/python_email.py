#!/usr/bin/env python3
"""Python's standard `email` package reading generated messages, written in the tree shape
scop-mail-corpus compares (schema/parsed.schema.json).

Reads message file paths from stdin, one per line (the id is the file name without .eml), and
writes one JSON line per message to stdout. Standard library only:

    ls out/*.eml | python3 python_email.py > python.jsonl
    scop-mail-corpus check --expected trees.jsonl --actual python.jsonl

The policy is email.policy.default (the modern API: headers decoded by the header registry,
get_content() decoding bodies). The harness maps the API's answers and nothing more: line ends of
decoded text are compared as LF, as the expected tree states them.
"""
import email
import email.policy
import hashlib
import json
import os
import re
import sys

ADDRESS = {"from", "to", "cc", "bcc", "sender", "reply-to"}
IDS = {"message-id", "in-reply-to", "references"}


def sha(b):
    return hashlib.sha256(b).hexdigest()


def mailbox(a):
    return {"name": a.display_name or "", "address": a.addr_spec}


def field(name, value):
    f = {"name": name}
    key = name.lower()
    try:
        f["value"] = str(value)
        if key in ADDRESS and hasattr(value, "groups"):
            items = []
            for g in value.groups:
                if g.display_name is None:
                    items.extend(mailbox(a) for a in g.addresses)
                else:
                    items.append({"group": g.display_name, "members": [mailbox(a) for a in g.addresses]})
            f["addresses"] = items
        elif key == "date":
            dt = getattr(value, "datetime", None)
            f["date"] = dt.isoformat() if dt is not None else None
        elif key in IDS:
            f["ids"] = re.findall(r"<[^<>]*>", str(value))
    except Exception as e:  # a header the registry cannot read is a finding, not a crash
        f["value"] = "!error: %s" % e
    return f


def entity(msg):
    e = {
        "headers": [field(k, v) for k, v in msg.items()],
        "type": msg.get_content_type(),
        "disposition": msg.get_content_disposition(),
        "filename": msg.get_filename(),
    }
    ct = msg["content-type"]
    params = dict(getattr(ct, "params", {}) or {}) if ct is not None else {}
    e["params"] = {k.lower(): str(v) for k, v in params.items()}
    cte = msg["content-transfer-encoding"]
    e["transferEncoding"] = (getattr(cte, "cte", None) or str(cte)).lower() if cte is not None else "7bit"
    maintype = msg.get_content_maintype()
    if msg.is_multipart() and maintype == "multipart":
        e["parts"] = [entity(p) for p in msg.get_payload()]
    elif maintype == "message" and msg.is_multipart():
        inner = msg.get_payload()
        if inner:
            e["message"] = entity(inner[0])
    elif maintype == "text":
        # Text is read as text (get_content); the bytes get_payload(decode=True) gives for 7bit and
        # 8bit text have their line ends turned to LF, which the text comparison already allows for.
        text = msg.get_content().replace("\r\n", "\n").encode("utf-8", "surrogateescape")
        e["body"] = {"text": {"size": len(text), "sha256": sha(text)}}
    else:
        data = msg.get_payload(decode=True) or b""
        e["body"] = {"size": len(data), "sha256": sha(data)}
    return e


def main():
    out = sys.stdout
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        mid = os.path.basename(path)[:-4] if path.endswith(".eml") else os.path.basename(path)
        try:
            with open(path, "rb") as fh:
                msg = email.message_from_binary_file(fh, policy=email.policy.default)
            rec = {"id": mid, "tree": entity(msg)}
        except Exception as e:
            rec = {"id": mid, "error": "%s: %s" % (type(e).__name__, e)}
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
