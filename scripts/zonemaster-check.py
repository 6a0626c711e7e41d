#!/usr/bin/env python3
"""Zonemaster (the checker registries run before they accept a delegation) against mailbeacon.

For the default configuration and every example, in a network namespace of its own that has only a
loopback interface:
  * every name-server address the zones publish (and a stand-in address for name servers outside
    the zones) is added to `lo`, and `mailbeacon serve` answers DNS on all of them, port 53;
  * a small root zone (Knot, on 127.0.2.1) holds the delegations and the stand-in addresses, and is
    given to Zonemaster as root hints, so nothing is asked of the internet;
  * `zonemaster-cli --ns NAME/ADDR …` runs an undelegated test of each primary zone.
Any WARNING, ERROR or CRITICAL fails the check unless it is caused by the test's own setup
(addresses that are loopback or documentation prefixes, no reverse DNS, no ASN data offline).

Usage: zonemaster-check.py --bin target/debug/mailbeacon [CONFIG…]
Needs root (network namespaces), zonemaster-cli, knotd and dnspython. Exits 0 when clean, 1 on any
finding, 77 (skipped) when a namespace cannot be made.
"""

import argparse
import glob
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import dns.zone
import dns.rdatatype

ROOT_ADDR = "127.0.2.1"
ROOT_NS = "root-ns.zonemaster-test."

# Findings that come from running on loopback / documentation addresses without the internet,
# not from mailbeacon's zones or answers.
CAUSED_BY_TEST = {
    "NAMESERVER_IP_PRIVATE_NETWORK",  # 127/8, 192.0.2/24, … are the test's addresses
    "NO_RESPONSE_PTR_QUERY",  # no reverse DNS offline
    "NAMESERVER_IP_WITHOUT_REVERSE",
    "NON_MATCHING_PTR",
    "NO_MATCHING_PTR",
    "Z01_MNAME_HAS_LOCALHOST_ADDR",  # the primary runs on loopback here
    "IPV4_ONE_ASN",  # no ASN data offline
    "IPV6_ONE_ASN",
    "IPV4_SAME_ASN",
    "IPV6_SAME_ASN",
    "ASN_INFOS_RAW",
    "ASN_INFOS_ANNOUNCE_BY",
    "ERROR_ASN_DATABASE",
    "EMPTY_ASN_SET",
}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def netns_ok():
    try:
        run(["ip", "netns", "add", "mb-zm-probe"])
        run(["ip", "netns", "del", "mb-zm-probe"])
        return True
    except (subprocess.CalledProcessError, FileNotFoundError):
        return False


def zones_of(binary, config):
    """Origin → dnspython zone, from `mailbeacon records`."""
    text = run([binary, "records", "-c", config]).stdout
    zones = {}
    for chunk in text.split("$ORIGIN ")[1:]:
        origin = chunk.split("\n", 1)[0].strip()
        zones[origin] = dns.zone.from_text("$ORIGIN " + chunk, origin=origin, relativize=False,
                                           check_origin=False)
    return zones


def plan(zones):
    """(name servers per zone, address per NS name, stand-in A records for the root zone)."""
    ns_of, addrs, standins = {}, {}, {}
    for origin, z in zones.items():
        apex = z.get_rdataset(origin, "NS")
        ns_of[origin] = sorted(r.target.to_text() for r in apex)
    in_zone = {}
    for z in zones.values():
        for name, node in z.nodes.items():
            for rds in node.rdatasets:
                if rds.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                    in_zone.setdefault(name.to_text(), []).extend(r.address for r in rds)
    n = 0
    for names in ns_of.values():
        for ns in names:
            if ns in addrs:
                continue
            if ns in in_zone:
                addrs[ns] = sorted(set(in_zone[ns]))
            else:
                n += 1
                addrs[ns] = [f"127.0.3.{n}"]
                standins[ns] = addrs[ns]
    return ns_of, addrs, standins


def root_zone(ns_of, addrs):
    lines = [
        "$ORIGIN .",
        "$TTL 3600",
        f". SOA {ROOT_NS} hostmaster.zonemaster-test. 1 14400 3600 1209600 300",
        f". NS {ROOT_NS}",
        f"{ROOT_NS} A {ROOT_ADDR}",
    ]
    for origin, names in ns_of.items():
        for ns in names:
            lines.append(f"{origin} NS {ns}")
    for ns, ips in addrs.items():
        for ip in ips:
            rtype = "AAAA" if ":" in ip else "A"
            lines.append(f"{ns} {rtype} {ip}")
    return "\n".join(lines) + "\n"


def check(binary, config, ns_name):
    zones = zones_of(binary, config)
    ns_of, addrs, _ = plan(zones)
    primaries = [o for o in zones if not is_alias(binary, config, o)]
    tmp = tempfile.mkdtemp(prefix="mb-zm-")
    procs = []
    findings = []
    exec_ns = ["ip", "netns", "exec", ns_name]
    try:
        run(["ip", "netns", "add", ns_name])
        run(exec_ns + ["ip", "link", "set", "lo", "up"])
        all_ips = sorted({ip for ips in addrs.values() for ip in ips} | {ROOT_ADDR})
        for ip in all_ips:
            if ipaddress.ip_address(ip).version == 4:
                if not ipaddress.ip_address(ip).is_loopback or ip != "127.0.0.1":
                    run(exec_ns + ["ip", "addr", "add", f"{ip}/32", "dev", "lo"])
            elif ip != "::1":
                run(exec_ns + ["ip", "-6", "addr", "add", f"{ip}/128", "dev", "lo", "nodad"])
        # The root zone, served by Knot.
        root_file = os.path.join(tmp, "root.zone")
        with open(root_file, "w") as f:
            f.write(root_zone(ns_of, addrs))
        conf = os.path.join(tmp, "knot.conf")
        with open(conf, "w") as f:
            f.write(f"server:\n  listen: {ROOT_ADDR}@53\n  rundir: {tmp}\n"
                    f"database:\n  storage: {tmp}\n"
                    f"zone:\n  - domain: .\n    file: {root_file}\n")
        procs.append(subprocess.Popen(exec_ns + ["knotd", "-c", conf], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        # mailbeacon on every name-server address (a copy of the config, so state stays in tmp).
        cfg = os.path.join(tmp, "mailbeacon.toml")
        shutil.copy(config, cfg)
        ready = os.path.join(tmp, "ready.json")
        serve = [binary, "serve", "-c", cfg, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0",
                 "--ready-file", ready]
        for ip in sorted({ip for ips in addrs.values() for ip in ips}):
            serve += ["--dns", f"[{ip}]:53" if ":" in ip else f"{ip}:53"]
        procs.append(subprocess.Popen(exec_ns + serve, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        deadline = time.time() + 20
        while not os.path.exists(ready):
            if time.time() > deadline or procs[-1].poll() is not None:
                raise SystemExit(f"{config}: mailbeacon did not start")
            time.sleep(0.05)
        time.sleep(0.3)  # Knot loads its zone
        hints = os.path.join(tmp, "hints")
        with open(hints, "w") as f:
            f.write(f". 3600000 IN NS {ROOT_NS}\n{ROOT_NS} 3600000 IN A {ROOT_ADDR}\n")
        for origin in primaries:
            cmd = ["zonemaster-cli", "--raw", "--level", "WARNING", "--show-level", "--no-progress",
                   "--hints", hints]
            for ns in ns_of[origin]:
                for ip in addrs[ns]:
                    cmd += ["--ns", f"{ns.rstrip('.')}/{ip}"]
            cmd.append(origin.rstrip("."))
            out = subprocess.run(exec_ns + cmd, capture_output=True, text=True, timeout=600)
            for line in out.stdout.splitlines():
                parts = line.split()
                if len(parts) < 3 or parts[1] not in ("WARNING", "ERROR", "CRITICAL"):
                    continue
                tag = parts[2].rstrip(">:,")
                if tag in CAUSED_BY_TEST:
                    continue
                findings.append(f"{config} {origin}: {' '.join(parts[1:])}")
            if out.returncode != 0:
                findings.append(f"{config} {origin}: zonemaster-cli exited {out.returncode}: "
                                f"{out.stderr.strip()[-500:]}")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["ip", "netns", "del", ns_name], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return primaries, findings


def is_alias(binary, config, origin):
    out = run([binary, "check", "-c", config]).stdout
    for line in out.splitlines():
        if line.startswith(origin.rstrip(".") + ":"):
            return "alias of" in line
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/debug/mailbeacon")
    parser.add_argument("configs", nargs="*")
    args = parser.parse_args()
    if os.geteuid() != 0 or not netns_ok():
        print("skipped: Zonemaster needs a network namespace (root and `ip netns`)")
        sys.exit(77)
    if not shutil.which("zonemaster-cli"):
        sys.exit("zonemaster-cli is missing (Debian package zonemaster-cli)")
    binary = os.path.abspath(args.bin)
    configs = args.configs or ["config/mailbeacon.toml"] + sorted(glob.glob("config/examples/*.toml"))
    failed = False
    for i, config in enumerate(configs):
        primaries, findings = check(binary, config, f"mb-zm-{os.getpid()}-{i}")
        for f in findings:
            print("FINDING " + f)
        failed |= bool(findings)
        status = "ok  " if not findings else "FAIL"
        print(f"{status} {config}: {len(primaries)} zone(s) tested by Zonemaster, "
              f"{len(findings)} finding(s)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
