#!/usr/bin/env python3
"""Differential check: mailbeacon and Knot DNS serving the same zones must answer alike.

For every configuration given (default: config/mailbeacon.toml and config/examples/*.toml), the
zones printed by `mailbeacon records` are loaded into knotd on one loopback port while
`mailbeacon serve` runs on another. The same queries (every name and type in the zones, common
types at every name, names that do not exist, empty non-terminals, letter-case variants, names
outside the zones) go to both, over UDP, each dressed three ways (EDNS; no EDNS; EDNS with the DO
bit and a cookie, as validating resolvers ask), and rcode, the AA and TC flags, the presence of
EDNS and the echoed DO bit, and the answer and authority RRsets are compared. Any difference fails, except those listed in DELIBERATE (also in README.md).

With --signed each configuration is served with `dnssec = true` for every domain; the signed zones
are transferred from mailbeacon by AXFR and loaded into Knot as pre-signed zones (Knot serves them
as they are), and the same queries are compared, RRSIG and NSEC records included.

Usage: scripts/dns-differential.py [--bin target/debug/mailbeacon] [--signed] [CONFIG...]
"""

import argparse
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdataclass
import dns.rdatatype
import dns.zone

COMMON = ["A", "AAAA", "NS", "SOA", "MX", "TXT", "SRV", "CAA", "CNAME", "HTTPS", "PTR"]

# Differences that are choices, not bugs (see README "The DNS server").
DELIBERATE = {
    # RFC 8482 lets a server pick which RRset answers ANY; Knot and mailbeacon pick differently.
    "ANY": "RFC 8482 minimal ANY: the chosen RRset may differ",
}


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, deadline=10.0):
    end = time.time() + deadline
    q = dns.message.make_query("probe.invalid.", "A")
    while time.time() < end:
        try:
            dns.query.udp(q, "127.0.0.1", port=port, timeout=0.2)
            return
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"nothing answers on port {port}")


def zones_of(binary, config):
    out = subprocess.run([binary, "check", "-c", config], check=True, capture_output=True, text=True).stdout
    return [line.split(":")[0] for line in out.splitlines() if ": domain;" in line or ": alias of" in line]


def start_knot(tmp, zones, files):
    port = free_port()
    conf = os.path.join(tmp, "knot.conf")
    with open(conf, "w") as f:
        f.write(f"server:\n  listen: 127.0.0.1@{port}\n  rundir: {tmp}\n")
        f.write(f"database:\n  storage: {tmp}/db\n")
        f.write("template:\n  - id: default\n    storage: " + tmp + "\n    zonefile-sync: -1\n    journal-content: none\n")
        f.write("zone:\n")
        for z in zones:
            f.write(f"  - domain: {z}\n    file: {files[z]}\n")
    proc = subprocess.Popen(["knotd", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_port(port)
    return proc, port


def start_mailbeacon(binary, config, tmp):
    ready = os.path.join(tmp, "ready.json")
    proc = subprocess.Popen([binary, "serve", "-c", config, "--dns", "127.0.0.1:0", "--ready-file", ready],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.time() + 20
    while not os.path.exists(ready):
        if time.time() > end or proc.poll() is not None:
            raise SystemExit("mailbeacon did not start")
        time.sleep(0.02)
    with open(ready) as f:
        port = int(json.load(f)["dns"][0].rsplit(":", 1)[1])
    return proc, port


def queries(zone_texts):
    rnd = random.Random(6186)
    out = []
    for origin, text in zone_texts.items():
        z = dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)
        names = set()
        for name, node in z.nodes.items():
            names.add(name)
            for rds in node.rdatasets:
                out.append((name.to_text(), dns.rdatatype.to_text(rds.rdtype)))
            # Empty non-terminals between the name and the apex.
            parent = name.parent()
            while parent != z.origin and parent.is_subdomain(z.origin):
                names.add(parent)
                parent = parent.parent()
        for name in sorted(names):
            for t in COMMON:
                out.append((name.to_text(), t))
        # Case variants, names that do not exist, ANY, out of zone.
        for name in sorted(names)[:5]:
            text = name.to_text()
            out.append(("".join(c.upper() if rnd.random() < 0.5 else c for c in text), "A"))
            out.append(("nx-" + text, "A"))
            out.append(("a.b.nx." + text, "TXT"))
            out.append((text, "ANY"))
        out.append(("outside-" + origin, "A"))
    out.append(("example.invalid.", "A"))
    out.append((".", "NS"))
    return out


DRESSES = ("edns", "plain", "resolver")


def dressed(qname, qtype):
    """The query as clients send it: EDNS with a 1232-octet buffer (stub resolvers, kdig); without
    EDNS (old stubs: 512 octets, so truncation is compared too); as validating resolvers send it
    (EDNS, DO bit, a client cookie)."""
    for dress in DRESSES:
        if dress == "plain":
            q = dns.message.make_query(qname, qtype, use_edns=False)
        elif dress == "edns":
            q = dns.message.make_query(qname, qtype, use_edns=0, payload=1232)
        else:
            cookie = dns.edns.GenericOption(dns.edns.COOKIE, bytes(range(1, 9)))
            q = dns.message.make_query(qname, qtype, use_edns=0, payload=1232, want_dnssec=True,
                                       options=[cookie])
        q.flags &= ~dns.flags.RD
        yield dress, q


def rrsets(section):
    return sorted((r.name.to_text().lower(), r.rdtype, sorted(rd.to_text().lower() for rd in r)) for r in section)


def compare(qname, qtype, a, b):
    diffs = []
    if a.rcode() != b.rcode():
        diffs.append(f"rcode {dns.rcode.to_text(a.rcode())} vs {dns.rcode.to_text(b.rcode())}")
    for flag in ("AA", "TC"):
        fa = bool(a.flags & dns.flags.from_text(flag))
        fb = bool(b.flags & dns.flags.from_text(flag))
        if fa != fb:
            diffs.append(f"{flag} {fa} vs {fb}")
    if (a.edns >= 0) != (b.edns >= 0):
        diffs.append(f"EDNS {a.edns} vs {b.edns}")
    elif a.edns >= 0 and (a.ednsflags & dns.flags.DO) != (b.ednsflags & dns.flags.DO):
        diffs.append(f"DO {bool(a.ednsflags & dns.flags.DO)} vs {bool(b.ednsflags & dns.flags.DO)}")
    if rrsets(a.answer) != rrsets(b.answer):
        diffs.append(f"answer {rrsets(a.answer)} vs {rrsets(b.answer)}")
    if rrsets(a.authority) != rrsets(b.authority):
        diffs.append(f"authority {rrsets(a.authority)} vs {rrsets(b.authority)}")
    return diffs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.environ.get("MAILBEACON_BIN", "target/debug/mailbeacon"))
    parser.add_argument("--signed", action="store_true", help="sign every zone; Knot serves the AXFR")
    parser.add_argument("configs", nargs="*")
    args = parser.parse_args()
    configs = args.configs or ["config/mailbeacon.toml"] + sorted(glob.glob("config/examples/*.toml"))
    total, failures, deliberate = 0, 0, 0
    for config in configs:
        tmp = tempfile.mkdtemp(prefix="mb-diff-")
        procs = []
        try:
            if args.signed:
                with open(config) as f:
                    text = f.read()
                config = os.path.join(tmp, os.path.basename(config))
                with open(config, "w") as f:
                    f.write(text + '\n[defaults]\ndnssec = true\naxfr = ["127.0.0.1"]\n')
            zones = zones_of(args.bin, config)
            # serve first: it records the zones' serials in its state directory, and `records`
            # (which never writes state) then prints the same ones for Knot.
            mb, mport = start_mailbeacon(args.bin, config, tmp)
            procs.append(mb)
            files, texts = {}, {}
            for z in zones:
                if args.signed:
                    xfr = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", z + ".", port=mport, timeout=5, relativize=False),
                                            relativize=False)
                    text = xfr.to_text(relativize=False)
                else:
                    text = subprocess.run([args.bin, "records", "-c", config, "--domain", z], check=True,
                                          capture_output=True, text=True).stdout
                files[z] = os.path.join(tmp, z + ".zone")
                with open(files[z], "w") as f:
                    f.write(text)
                texts[z + "."] = text
            knot, kport = start_knot(tmp, zones, files)
            procs.append(knot)
            qs = queries(texts)
            for qname, qtype in qs:
                for dress, q in dressed(qname, qtype):
                    ours = dns.query.udp(q, "127.0.0.1", port=mport, timeout=2)
                    theirs = dns.query.udp(q, "127.0.0.1", port=kport, timeout=2)
                    diffs = compare(qname, qtype, ours, theirs)
                    total += 1
                    if diffs and qtype in DELIBERATE and all(d.startswith("answer") for d in diffs):
                        deliberate += 1
                    elif diffs:
                        failures += 1
                        print(f"DIFF {config} {qname} {qtype} ({dress}): " + "; ".join(diffs))
            signed = " (signed)" if args.signed else ""
            print(f"ok   {config}{signed}: {len(qs)} queries, each {len(DRESSES)} ways, compared with Knot")
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=10)
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{total} queries, {failures} differences, {deliberate} deliberate (ANY)")
    if total < 200:
        print("too few queries")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
