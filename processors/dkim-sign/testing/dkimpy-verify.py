#!/usr/bin/python3
"""Independent DKIM verifier for tests: Debian's python3-dkim (dkimpy), the library behind
`dkimverify`, verifying EVERY DKIM-Signature of the message on stdin (dkimverify itself checks
only the first one and asks the system resolver). Keys come over real DNS from the server given
as argv[1] (host) argv[2] (port), through dkimpy's dnsfunc hook. Prints one JSON line:
[{"d": ..., "s": ..., "a": ..., "ok": true|false}, ...]."""
import json
import re
import sys

import dkim
import dns.resolver

resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = [sys.argv[1]]
resolver.port = int(sys.argv[2])


def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode('ascii')
    try:
        answer = resolver.resolve(name.rstrip('.'), 'TXT', lifetime=timeout)
    except Exception:
        return None
    for rr in answer:
        return b''.join(rr.strings)
    return None


message = sys.stdin.buffer.read()
d = dkim.DKIM(message)
sigs = [v for (k, v) in d.headers if k.lower() == b'dkim-signature']
out = []
for i, value in enumerate(sigs):
    tags = dict((m.group(1).decode(), re.sub(rb'\s+', b'', m.group(2)).decode()) for m in re.finditer(rb'(\w+)\s*=\s*([^;]*)', value))
    try:
        ok = bool(dkim.DKIM(message).verify(idx=i, dnsfunc=dnsfunc))
    except Exception as e:  # a verifier exception is a failure, with its reason
        ok = False
        tags['error'] = str(e)
    out.append({'d': tags.get('d'), 's': tags.get('s'), 'a': tags.get('a'), 'ok': ok, 'error': tags.get('error')})
print(json.dumps(out))
