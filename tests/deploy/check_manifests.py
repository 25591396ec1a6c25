#!/usr/bin/python3
"""Static checks of the deployment artifacts, called by tests/deploy/check-deploy.

Each subcommand prints one line per check ("ok   <name>" or "FAIL <name>: <why>") and
exits 1 if any failed:

  manifests  REPO                 Kubernetes manifests: parse, required fields, cross-refs
  configs    REPO OUTDIR          write each ConfigMap's qail-proxy.yaml to OUTDIR (and
                                  print the secret env names it references, for the
                                  caller's --check-config run)
  grafana    REPO RULES_OUT       dashboard JSON: parses, metric names exist in
                                  docs/metrics.md; writes the queries as a Prometheus
                                  rules file for `promtool check rules`
  dockerfile REPO BINARY          Dockerfile/.dockerignore against scripts/ and the
                                  binary's shared libraries
  unit       REPO                 systemd unit directives beyond `systemd-analyze verify`
"""

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys

import yaml

K8S = "deploy/kubernetes"
ADMIN_PORT = 9187
PROXY_CONFIG = "/etc/qail-proxy/qail-proxy.yaml"
# Seconds of slack wanted between the drain deadline and the hard kill.
KILL_MARGIN_S = 5
DEFAULT_SHUTDOWN_MS = 30000


class Checker:
    """Collects results; one printed line per check."""

    def __init__(self):
        self.failed = 0

    def check(self, name, ok, why=""):
        if ok:
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {why}")
        return ok

    def exit(self):
        sys.exit(1 if self.failed else 0)


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def dig(obj, *keys, default=None):
    for k in keys:
        if isinstance(obj, dict) and k in obj:
            obj = obj[k]
        elif isinstance(obj, list) and isinstance(k, int) and k < len(obj):
            obj = obj[k]
        else:
            return default
    return obj


def env_refs(text):
    """Names of ${VAR} / ${VAR:-default} references outside comments (as the loader does)."""
    names = set()
    for line in text.splitlines():
        code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        for m in re.finditer(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}", code):
            if m.group(2) is None:
                names.add(m.group(1))
    return names


def all_manifests(repo):
    out = []
    kdir = os.path.join(repo, K8S)
    for name in sorted(os.listdir(kdir)):
        if name.endswith((".yaml", ".yml")):
            for doc in load_docs(os.path.join(kdir, name)):
                out.append((name, doc))
    return out


def configmaps(manifests):
    return {d["metadata"]["name"]: d for _, d in manifests
            if d.get("kind") == "ConfigMap"}


def selector_matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ---------------------------------------------------------------------------- manifests

def check_security_context(c, where, pod_sc, ctr):
    sc = ctr.get("securityContext") or {}

    def either(key):
        return sc.get(key, pod_sc.get(key))

    c.check(f"{where}: runAsNonRoot", either("runAsNonRoot") is True, "not true")
    uid = either("runAsUser")
    c.check(f"{where}: runAsUser non-zero", uid is None or (isinstance(uid, int) and uid > 0),
            f"runAsUser {uid}")
    c.check(f"{where}: readOnlyRootFilesystem", sc.get("readOnlyRootFilesystem") is True,
            "not true")
    c.check(f"{where}: allowPrivilegeEscalation false",
            sc.get("allowPrivilegeEscalation") is False, "not false")
    c.check(f"{where}: capabilities drop ALL",
            "ALL" in (dig(sc, "capabilities", "drop") or []), "ALL not dropped")
    c.check(f"{where}: no added capabilities", not dig(sc, "capabilities", "add"),
            f"adds {dig(sc, 'capabilities', 'add')}")
    seccomp = dig(sc, "seccompProfile", "type") or dig(pod_sc, "seccompProfile", "type")
    c.check(f"{where}: seccompProfile RuntimeDefault", seccomp == "RuntimeDefault",
            f"seccompProfile {seccomp}")


def resolve_port(ctr, port):
    if isinstance(port, int):
        return port
    for p in ctr.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def prestop_seconds(ctr):
    pre = dig(ctr, "lifecycle", "preStop") or {}
    if "sleep" in pre:
        return dig(pre, "sleep", "seconds")
    cmd = dig(pre, "exec", "command") or []
    if len(cmd) == 2 and cmd[0] in ("sleep", "/bin/sleep") and cmd[1].isdigit():
        return int(cmd[1])
    return None


def proxy_config(ctr, pod_spec, cms):
    """The qail-proxy config this container runs, parsed, plus its text and ConfigMap."""
    args = (ctr.get("command") or []) + (ctr.get("args") or [])
    path = None
    for i, a in enumerate(args):
        if a in ("--config", "-c") and i + 1 < len(args):
            path = args[i + 1]
        elif a.startswith("--config="):
            path = a.split("=", 1)[1]
    if path is None:
        path = PROXY_CONFIG  # the image's CMD
    mount_dir, key = os.path.split(path)
    for vm in ctr.get("volumeMounts") or []:
        if vm.get("mountPath") == mount_dir:
            for vol in pod_spec.get("volumes") or []:
                if vol.get("name") == vm.get("name") and "configMap" in vol:
                    cm = cms.get(vol["configMap"].get("name"))
                    text = dig(cm, "data", key)
                    if text is None:
                        return None
                    # ${VAR} references are quoted by the loader; YAML parses them as
                    # plain strings here, which is all this check needs.
                    return {"cm": vol["configMap"]["name"], "text": text,
                            "cfg": yaml.safe_load(text), "readonly": vm.get("readOnly")}
    return None


def check_proxy_container(c, where, ctr, pod_spec, cms, secrets):
    pod_sc = pod_spec.get("securityContext") or {}
    c.check(f"{where}: image set", bool(ctr.get("image")), "no image")
    res = ctr.get("resources") or {}
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            c.check(f"{where}: resources.{kind}.{r}", r in (res.get(kind) or {}), "missing")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        got_path = dig(ctr, probe, "httpGet", "path")
        got_port = resolve_port(ctr, dig(ctr, probe, "httpGet", "port"))
        c.check(f"{where}: {probe} GET {path} on {ADMIN_PORT}",
                got_path == path and got_port == ADMIN_PORT,
                f"httpGet {got_path} port {got_port}")
    check_security_context(c, where, pod_sc, ctr)

    conf = proxy_config(ctr, pod_spec, cms)
    if not c.check(f"{where}: config from a ConfigMap mounted at {os.path.dirname(PROXY_CONFIG)}",
                   conf is not None, "no ConfigMap volume with qail-proxy.yaml at the config path"):
        return None
    c.check(f"{where}: config mount read-only", conf["readonly"] is True, "readOnly not set")
    admin = dig(conf["cfg"], "listen", "admin") or ""
    c.check(f"{where}: listen.admin {admin} reachable by the kubelet on port {ADMIN_PORT}",
            admin in (f"0.0.0.0:{ADMIN_PORT}", f":{ADMIN_PORT}", f"[::]:{ADMIN_PORT}"),
            "probes and Prometheus use the pod IP")

    # Secrets: every ${VAR} of the config comes from the Secret, via env.
    env = {e["name"]: e for e in ctr.get("env") or []}
    for var in sorted(env_refs(conf["text"])):
        ref = dig(env.get(var), "valueFrom", "secretKeyRef")
        c.check(f"{where}: ${{{var}}} from a Secret", ref is not None,
                "not set from a secretKeyRef")
        if ref:
            sec = secrets.get(ref.get("name"))
            c.check(f"{where}: Secret {ref.get('name')} has key {ref.get('key')}",
                    sec is not None and ref.get("key") in (sec.get("stringData") or {}) |
                    (sec.get("data") or {}), "missing in secret.example.yaml")
    literal = sorted(name for name, e in env.items()
                     if "value" in e and re.search(r"PASSWORD|SECRET|TOKEN", name))
    c.check(f"{where}: no secret given as a literal env value", not literal,
            ", ".join(literal))
    # Shutdown: preStop, then the drain, must fit in the grace period.
    shutdown_ms = dig(conf["cfg"], "limits", "shutdown_timeout_ms", default=DEFAULT_SHUTDOWN_MS)
    pre = prestop_seconds(ctr)
    grace = pod_spec.get("terminationGracePeriodSeconds", 30)
    c.check(f"{where}: preStop sleep", isinstance(pre, int) and pre > 0, "no preStop sleep")
    need = (pre or 0) + int(shutdown_ms) / 1000 + KILL_MARGIN_S
    c.check(f"{where}: terminationGracePeriodSeconds {grace} >= preStop {pre} + "
            f"shutdown_timeout {int(shutdown_ms) / 1000:g} + {KILL_MARGIN_S}",
            isinstance(grace, int) and grace >= need, f"needs at least {need:g}")
    return conf


def proxy_containers(dep):
    spec = dig(dep, "spec", "template", "spec") or {}
    return [x for x in spec.get("containers") or []
            if "qail-proxy" in (x.get("image") or "") or x.get("name") == "qail-proxy"]


def check_deployment(c, fname, dep, cms, secrets):
    name = dep["metadata"]["name"]
    where = f"{fname} Deployment/{name}"
    tmpl = dig(dep, "spec", "template") or {}
    labels = dig(tmpl, "metadata", "labels") or {}
    c.check(f"{where}: selector matches the pod labels",
            selector_matches(dig(dep, "spec", "selector", "matchLabels"), labels),
            "selector.matchLabels not in template labels")
    spec = tmpl.get("spec") or {}
    c.check(f"{where}: pod runAsNonRoot",
            dig(spec, "securityContext", "runAsNonRoot") is True, "not true")
    proxies = proxy_containers(dep)
    c.check(f"{where}: has a qail-proxy container", len(proxies) == 1,
            f"{len(proxies)} qail-proxy containers")
    confs = []
    for ctr in proxies:
        conf = check_proxy_container(c, f"{where} container/{ctr.get('name')}", ctr, spec,
                                     cms, secrets)
        if conf:
            confs.append(conf)
    for ctr in spec.get("containers") or []:
        if ctr not in proxies:
            cw = f"{where} container/{ctr.get('name')}"
            res = ctr.get("resources") or {}
            c.check(f"{cw}: resources requests and limits",
                    bool(res.get("requests")) and bool(res.get("limits")), "missing")
            check_security_context(c, cw, spec.get("securityContext") or {}, ctr)
    return proxies, confs


def check_manifests(repo):
    c = Checker()
    kdir = os.path.join(repo, K8S)
    manifests = []
    for fname in ("sidecar.yaml", "shared-tier.yaml", "configmap.yaml", "secret.example.yaml"):
        path = os.path.join(kdir, fname)
        try:
            docs = load_docs(path)
            c.check(f"{fname}: parses ({len(docs)} documents)", len(docs) > 0, "empty")
            manifests += [(fname, d) for d in docs]
        except (OSError, yaml.YAMLError) as e:
            c.check(f"{fname}: parses", False, str(e).replace("\n", " "))
    for fname, d in manifests:
        c.check(f"{fname} {d.get('kind')}/{dig(d, 'metadata', 'name')}: apiVersion, kind, "
                "metadata.name", all((d.get("apiVersion"), d.get("kind"),
                                      dig(d, "metadata", "name"))), "missing")
    cms = configmaps(manifests)
    secrets = {d["metadata"]["name"]: d for _, d in manifests if d.get("kind") == "Secret"}
    by_file = {}
    for fname, d in manifests:
        by_file.setdefault(fname, []).append(d)

    def kinds(fname, kind):
        return [d for d in by_file.get(fname, []) if d.get("kind") == kind]

    # (a) sidecar: an app container and the proxy in one pod, the proxy on localhost.
    deps = kinds("sidecar.yaml", "Deployment")
    if c.check("sidecar.yaml: one Deployment", len(deps) == 1, f"{len(deps)}"):
        dep = deps[0]
        containers = dig(dep, "spec", "template", "spec", "containers") or []
        proxies, confs = check_deployment(c, "sidecar.yaml", dep, cms, secrets)
        c.check("sidecar.yaml: an app container beside qail-proxy",
                len(containers) >= 2 and len(proxies) == 1, f"{len(containers)} containers")
        for conf in confs:
            pg = dig(conf["cfg"], "listen", "postgres") or ""
            c.check(f"sidecar.yaml: proxy listens on localhost only ({pg})",
                    pg.startswith("127.0.0.1:") or pg.startswith("[::1]:"),
                    "listen.postgres should be 127.0.0.1:PORT in a sidecar")
        labels = dig(dep, "spec", "template", "metadata", "labels") or {}
        pms = kinds("sidecar.yaml", "PodMonitor")
        c.check("sidecar.yaml: PodMonitor (monitoring.coreos.com/v1) selects the pods",
                any(p.get("apiVersion") == "monitoring.coreos.com/v1" and
                    selector_matches(dig(p, "spec", "selector", "matchLabels"), labels) and
                    any(e.get("port") == "metrics" and e.get("path", "/metrics") == "/metrics"
                        for e in dig(p, "spec", "podMetricsEndpoints") or [])
                    for p in pms), "none matches with port metrics, path /metrics")

    # (b) shared tier: Deployment, Service, PDB, HPA, ServiceMonitor.
    deps = kinds("shared-tier.yaml", "Deployment")
    if c.check("shared-tier.yaml: one Deployment", len(deps) == 1, f"{len(deps)}"):
        dep = deps[0]
        name = dep["metadata"]["name"]
        proxies, _ = check_deployment(c, "shared-tier.yaml", dep, cms, secrets)
        c.check("shared-tier.yaml: replicas >= 2", (dig(dep, "spec", "replicas") or 1) >= 2,
                f"replicas {dig(dep, 'spec', 'replicas')}")
        labels = dig(dep, "spec", "template", "metadata", "labels") or {}
        svcs = [s for s in kinds("shared-tier.yaml", "Service")
                if selector_matches(dig(s, "spec", "selector"), labels)]
        if c.check("shared-tier.yaml: a Service selects the pods", len(svcs) == 1,
                   f"{len(svcs)} Services"):
            svc = svcs[0]
            ports = {p.get("name"): p for p in dig(svc, "spec", "ports") or []}
            for pname, num in (("postgres", 6432), ("http", 8080), ("metrics", 9187)):
                p = ports.get(pname) or {}
                target = resolve_port(proxies[0], p.get("targetPort", p.get("port"))) \
                    if proxies else None
                c.check(f"shared-tier.yaml: Service port {pname} {num} -> container {num}",
                        p.get("port") == num and target == num,
                        f"port {p.get('port')} targetPort {p.get('targetPort')} -> {target}")
            svc_labels = dig(svc, "metadata", "labels") or {}
            sms = kinds("shared-tier.yaml", "ServiceMonitor")
            c.check("shared-tier.yaml: ServiceMonitor (monitoring.coreos.com/v1) scrapes "
                    "metrics /metrics",
                    any(s.get("apiVersion") == "monitoring.coreos.com/v1" and
                        selector_matches(dig(s, "spec", "selector", "matchLabels"),
                                         svc_labels) and
                        any(e.get("port") == "metrics" and
                            e.get("path", "/metrics") == "/metrics"
                            for e in dig(s, "spec", "endpoints") or [])
                        for s in sms), "none selects the Service with port metrics")
        pdbs = kinds("shared-tier.yaml", "PodDisruptionBudget")
        c.check("shared-tier.yaml: PodDisruptionBudget (policy/v1) selects the pods",
                any(p.get("apiVersion") == "policy/v1" and
                    selector_matches(dig(p, "spec", "selector", "matchLabels"), labels) and
                    ("minAvailable" in p["spec"] or "maxUnavailable" in p["spec"])
                    for p in pdbs), "none")
        hpas = kinds("shared-tier.yaml", "HorizontalPodAutoscaler")
        c.check("shared-tier.yaml: HorizontalPodAutoscaler (autoscaling/v2) scales it, min >= 2",
                any(h.get("apiVersion") == "autoscaling/v2" and
                    dig(h, "spec", "scaleTargetRef", "kind") == "Deployment" and
                    dig(h, "spec", "scaleTargetRef", "name") == name and
                    (dig(h, "spec", "minReplicas") or 1) >= 2 and
                    (dig(h, "spec", "maxReplicas") or 0) >= (dig(h, "spec", "minReplicas") or 1)
                    for h in hpas), "none")

    # (c) every ConfigMap holds a qail-proxy.yaml, the example Secret holds no real data.
    c.check("configmap.yaml: ConfigMaps with qail-proxy.yaml",
            bool(cms) and all("qail-proxy.yaml" in (d.get("data") or {}) for d in cms.values()),
            "missing")
    for s in secrets.values():
        c.check(f"secret.example.yaml: Secret/{s['metadata']['name']} values are placeholders",
                all("change-me" in str(v) for v in (s.get("stringData") or {}).values())
                and not s.get("data"), "looks like a real secret")
    c.exit()


def write_configs(repo, outdir):
    cms = configmaps(all_manifests(repo))
    os.makedirs(outdir, exist_ok=True)
    for name, cm in sorted(cms.items()):
        text = dig(cm, "data", "qail-proxy.yaml")
        if text is None:
            continue
        path = os.path.join(outdir, f"{name}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(path, " ".join(sorted(env_refs(text))))


# ---------------------------------------------------------------------------- grafana

def documented_metrics(repo):
    """name -> type, from the table in docs/metrics.md."""
    out = {}
    with open(os.path.join(repo, "docs/metrics.md"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\|\s*`(qail_proxy_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|", line)
            if m:
                out[m.group(1)] = m.group(2)
    return out


def base_metric(name, documented):
    if name in documented:
        return name
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix) and documented.get(name[: -len(suffix)]) == "histogram":
            return name[: -len(suffix)]
    return None


def substitute_vars(expr):
    expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    expr = expr.replace("$__range", "1h")
    return re.sub(r"\$\{?([a-z_]+)\}?", ".*", expr)


def check_grafana(repo, rules_out):
    c = Checker()
    path = os.path.join(repo, "deploy/grafana/qail-proxy-dashboard.json")
    try:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        c.check("grafana: dashboard JSON parses", False, str(e))
        c.exit()
    c.check("grafana: dashboard JSON parses", True)
    documented = documented_metrics(repo)
    c.check(f"grafana: docs/metrics.md lists metrics ({len(documented)})", len(documented) > 0,
            "no table rows found")
    c.check("grafana: title and uid", bool(dash.get("title")) and bool(dash.get("uid")), "missing")

    panels = []
    for p in dash.get("panels") or []:
        panels.append(p)
        panels += p.get("panels") or []
    variables = {v.get("name") for v in dig(dash, "templating", "list", default=[])}
    exprs = []
    for p in panels:
        for t in p.get("targets") or []:
            if t.get("expr"):
                exprs.append((p.get("title"), t["expr"]))
    for v in dig(dash, "templating", "list", default=[]):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query" and q:
            exprs.append((f"variable {v.get('name')}", q))
    c.check(f"grafana: panels with queries ({len(exprs)})", len(exprs) >= 10, "too few")

    # One line per panel (or variable): its metrics, variables and quantiles.
    used = set()
    problems = {}
    for title, expr in exprs:
        why = problems.setdefault(title, [])
        names = set(re.findall(r"\bqail_proxy_[a-z0-9_]+", expr))
        unknown = sorted(n for n in names if base_metric(n, documented) is None)
        used |= {base_metric(n, documented) for n in names} - {None}
        if unknown:
            why.append(f"not in docs/metrics.md: {', '.join(unknown)}")
        for var in re.findall(r"\$\{?([A-Za-z_]+)\}?", expr):
            if not var.startswith("__") and var not in variables:
                why.append(f"undefined variable ${var}")
        for m in re.finditer(r"histogram_quantile\(\s*[0-9.]+\s*,(.*)", expr):
            if "_bucket" not in m.group(1) or re.search(r"\ble\b", m.group(1)) is None:
                why.append("histogram_quantile without _bucket or `le`")
    for title, why in problems.items():
        c.check(f"grafana: '{title}' queries documented metrics", not why, "; ".join(why))
    wanted = ["qail_proxy_client_connections", "qail_proxy_server_connections",
              "qail_proxy_pool_wait_seconds", "qail_proxy_transaction_duration_seconds",
              "qail_proxy_errors_total", "qail_proxy_auth_failures_total",
              "qail_proxy_acquire_timeouts_total", "qail_proxy_http_requests_total"]
    missing = [w for w in wanted if w not in used]
    c.check("grafana: panels on connections, pool wait, transactions, errors, auth, "
            "acquire timeouts, HTTP", not missing, f"no panel on {', '.join(missing)}")
    ds_ok = all(dig(p, "datasource", "uid") in ("${datasource}", "$datasource")
                for p in panels if p.get("type") != "row")
    c.check("grafana: panels use the $datasource variable", ds_ok and "datasource" in variables,
            "hard-coded data source")

    # promtool checks PromQL syntax through a rules file (variables substituted).
    rules = {"groups": [{"name": "qail-proxy-dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": substitute_vars(e)}
        for i, (_, e) in enumerate(q for q in exprs if not q[1].startswith("label_values"))]}]}
    with open(rules_out, "w", encoding="utf-8") as f:
        yaml.safe_dump(rules, f, sort_keys=False)
    c.exit()


# ---------------------------------------------------------------------------- Dockerfile

def dockerfile_stages(path):
    """[(from_line, [(instruction, args)])], continuation lines joined."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"\\\n", " ", text)
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stages.append((args.strip(), []))
        elif stages:
            stages[-1][1].append((instr, " ".join(args.split())))
    return stages


def apt_installs(instrs):
    pkgs = []
    for instr, args in instrs:
        if instr != "RUN":
            continue
        for part in re.split(r"&&|;", args):
            words = shlex.split(part)
            if "apt-get" in words and "install" in words:
                pkgs += [w for w in words[words.index("install") + 1:]
                         if not w.startswith("-")]
    return pkgs


def setup_packages(repo):
    with open(os.path.join(repo, "scripts/setup"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"APT_PACKAGES=\((.*?)\)", text, re.S)
    return m.group(1).split() if m else []


def script_cmake_lines(repo, script):
    out = []
    with open(os.path.join(repo, script), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("cmake "):
                words = shlex.split(re.sub(r"[0-9]*>\S+", "", line))
                # Drop the parallelism: the Dockerfile picks its own.
                if "-j" in words:
                    i = words.index("-j")
                    del words[i:i + 2]
                out.append(words)
    return out


def cmake_invocations(instrs):
    out = []
    for instr, args in instrs:
        if instr == "RUN":
            for part in re.split(r"&&|;", args):
                words = shlex.split(part)
                if words[:1] == ["cmake"]:
                    out.append(words)
    return out


def runtime_packages_of(binary):
    """Debian packages that own the shared libraries the binary loads."""
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    pkgs = {}
    for line in ldd.splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if not m:
            continue
        lib = m.group(2)
        for candidate in (lib, os.path.realpath(lib)):
            r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if r.returncode == 0:
                pkgs[r.stdout.split(":", 1)[0]] = m.group(1)
                break
            # usrmerge: /lib/x86_64-linux-gnu is /usr/lib/x86_64-linux-gnu
            alt = candidate.replace("/lib/", "/usr/lib/", 1) if candidate.startswith("/lib/") \
                else candidate.replace("/usr/lib/", "/lib/", 1)
            r = subprocess.run(["dpkg", "-S", alt], capture_output=True, text=True)
            if r.returncode == 0:
                pkgs[r.stdout.split(":", 1)[0]] = m.group(1)
                break
        else:
            pkgs[f"?{m.group(1)}"] = m.group(1)
    return pkgs


def dockerignore_excludes(patterns, path):
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    excluded = False
    parts = path.split("/")
    for raw in patterns:
        neg = raw.startswith("!")
        pat = os.path.normpath(raw[1:] if neg else raw).lstrip("/")
        regex = fnmatch.translate(pat).replace(".*", "[^/]*")
        regex = regex.replace("[^/]*[^/]*", ".*")  # `**`
        for i in range(1, len(parts) + 1):
            if re.match(regex, "/".join(parts[:i])):
                excluded = not neg
                break
    return excluded


# Base packages of debian:bookworm-slim that the binary may link against.
SLIM_BASE = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}
# Packages in scripts/setup that only the tests need.
TEST_ONLY = {"doctest-dev", "libclang-rt-14-dev"}


def check_dockerfile(repo, binary):
    c = Checker()
    path = os.path.join(repo, "Dockerfile")
    stages = dockerfile_stages(path)
    c.check(f"Dockerfile: multi-stage ({len(stages)} stages)", len(stages) >= 2, "one FROM")
    if len(stages) < 2:
        c.exit()
    build_from, build = stages[0]
    run_from, runtime = stages[-1]
    c.check(f"Dockerfile: build stage FROM debian:bookworm ({build_from})",
            re.match(r"debian:bookworm(@\S+)?\s+AS\s+\w+", build_from, re.I) is not None,
            "not debian:bookworm AS <name>")
    c.check(f"Dockerfile: runtime stage FROM debian:bookworm-slim ({run_from})",
            run_from.split()[0].startswith("debian:bookworm-slim"), "not bookworm-slim")

    def last(instrs, name):
        vals = [a for i, a in instrs if i == name]
        return vals[-1] if vals else None

    user = last(runtime, "USER")
    uid = (user or "").split(":")[0]
    c.check(f"Dockerfile: USER non-root, numeric ({user})",
            uid.isdigit() and int(uid) != 0, "runAsNonRoot needs a numeric non-zero uid")
    hc = last(runtime, "HEALTHCHECK") or ""
    c.check("Dockerfile: HEALTHCHECK on /healthz", "/healthz" in hc and
            str(ADMIN_PORT) in hc, f"HEALTHCHECK {hc!r}")
    exposed = set((last(runtime, "EXPOSE") or "").split())
    c.check("Dockerfile: EXPOSE 6432 8080 9187", {"6432", "8080", "9187"} <= exposed,
            f"EXPOSE {sorted(exposed)}")
    entry = last(runtime, "ENTRYPOINT") or ""
    c.check("Dockerfile: ENTRYPOINT /usr/bin/qail-proxy", '"/usr/bin/qail-proxy"' in entry,
            entry)
    cmd = last(runtime, "CMD") or ""
    c.check(f"Dockerfile: CMD --config {PROXY_CONFIG}",
            '"--config"' in cmd and f'"{PROXY_CONFIG}"' in cmd, cmd)
    c.check("Dockerfile: binary copied from the build stage",
            any(i == "COPY" and a.startswith("--from=") and "qail-proxy" in a
                for i, a in runtime), "no COPY --from")

    setup = set(setup_packages(repo))
    c.check(f"scripts/setup: APT_PACKAGES found ({len(setup)})", bool(setup), "not found")
    build_pkgs = set(apt_installs(build))
    extra = sorted(build_pkgs - setup)
    c.check("Dockerfile: build packages are scripts/setup's", not extra,
            f"not in scripts/setup: {' '.join(extra)}")
    needed = {p for p in setup if p.endswith("-dev") and p not in TEST_ONLY}
    needed |= {"cmake", "ninja-build", "g++"} & setup
    missing = sorted(needed - build_pkgs)
    c.check("Dockerfile: build stage installs scripts/setup's build dependencies", not missing,
            f"missing: {' '.join(missing)}")

    docker_cmake = cmake_invocations(build)
    for words in script_cmake_lines(repo, "scripts/demo"):
        ok = any(set(words) <= set(d) and d[:3] == words[:3] for d in docker_cmake)
        c.check(f"Dockerfile: runs scripts/demo's `{' '.join(words)}`", ok,
                f"Dockerfile has: {[' '.join(d) for d in docker_cmake]}")
    # The optimised build type the tests run against (the top-level default).
    c.check("Dockerfile: tests off, RelWithDebInfo build (as scripts/ build)",
            any("-DQAIL_BUILD_TESTS=OFF" in d and "-DCMAKE_BUILD_TYPE=RelWithDebInfo" in d
                for d in docker_cmake), "configure line lacks them")

    run_pkgs = set(apt_installs(runtime))
    try:
        libs = runtime_packages_of(binary)
        missing = sorted(f"{p} ({lib})" for p, lib in libs.items()
                         if p not in SLIM_BASE and p not in run_pkgs)
        c.check(f"Dockerfile: runtime stage installs the libraries `ldd {os.path.basename(binary)}`"
                f" names ({len(libs)})", not missing, f"missing: {', '.join(missing)}")
    except (OSError, subprocess.CalledProcessError) as e:
        c.check("Dockerfile: ldd of the binary", False, str(e))
    dev = sorted(p for p in run_pkgs if p.endswith("-dev"))
    c.check("Dockerfile: no -dev packages at runtime", not dev, " ".join(dev))
    c.check("Dockerfile: curl in the runtime stage for the HEALTHCHECK",
            "curl" not in hc or "curl" in run_pkgs, "HEALTHCHECK uses curl, not installed")

    # .dockerignore must keep everything the build reads.
    try:
        with open(os.path.join(repo, ".dockerignore"), encoding="utf-8") as f:
            patterns = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    except OSError:
        patterns = []
    with open(os.path.join(repo, "CMakeLists.txt"), encoding="utf-8") as f:
        subdirs = re.findall(r"^add_subdirectory\(([^)\s]+)\)", f.read(), re.M)
    copied = ["CMakeLists.txt"] + sorted({d.split("/")[0] for d in subdirs})
    for i, a in runtime:
        if i == "COPY" and not a.startswith("--from"):
            copied += [w for w in shlex.split(a)[:-1] if not w.startswith("--")]
    files = []
    ls = subprocess.run(["git", "-C", repo, "ls-files", "--", *copied], capture_output=True,
                        text=True)
    if ls.returncode == 0 and ls.stdout.strip():
        files = ls.stdout.split()
    else:
        for top in copied:
            full = os.path.join(repo, top)
            if os.path.isfile(full):
                files.append(top)
            for root, _, names in os.walk(full):
                files += [os.path.relpath(os.path.join(root, n), repo) for n in names]
    dropped = [f for f in files if dockerignore_excludes(patterns, f)]
    c.check(f".dockerignore: keeps the {len(files)} files the image build reads", not dropped,
            f"excluded: {' '.join(dropped[:5])}")
    c.check(".dockerignore: leaves out build trees and .git",
            dockerignore_excludes(patterns, "build/CMakeCache.txt") and
            dockerignore_excludes(patterns, ".git/HEAD"), "sent to the daemon")
    absent = [src for src in copied if not os.path.exists(os.path.join(repo, src))]
    c.check(f"Dockerfile: COPY sources exist ({' '.join(copied)})", not absent,
            f"missing: {' '.join(absent)}")
    c.exit()


# ---------------------------------------------------------------------------- systemd unit

def parse_unit(path):
    entries = []
    section = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            k, _, v = line.partition("=")
            entries.append((section, k.strip(), v.strip()))
    return entries


def unit_seconds(v):
    m = re.fullmatch(r"(\d+)\s*(s|sec|min|m)?", v)
    if not m:
        return None
    return int(m.group(1)) * (60 if m.group(2) in ("min", "m") else 1)


def check_unit(repo):
    c = Checker()
    entries = parse_unit(os.path.join(repo, "systemd/qail-proxy.service"))
    svc = {}
    for section, k, v in entries:
        if section == "Service":
            svc.setdefault(k, []).append(v)

    def one(k):
        return (svc.get(k) or [None])[-1]

    c.check("unit: Type=notify", one("Type") == "notify", f"Type={one('Type')}")
    c.check("unit: ExecStart runs --config",
            re.fullmatch(r"/usr/bin/qail-proxy (--config|-c) \S+", one("ExecStart") or "")
            is not None, f"ExecStart={one('ExecStart')}")
    c.check("unit: ExecStartPre runs --check-config",
            any("--check-config" in v for v in svc.get("ExecStartPre") or []), "missing")
    c.check("unit: ExecReload sends SIGHUP",
            re.fullmatch(r"/bin/kill -(HUP|s HUP|SIGHUP) \$MAINPID", one("ExecReload") or "")
            is not None, f"ExecReload={one('ExecReload')}")
    c.check("unit: KillSignal=SIGTERM", one("KillSignal") in (None, "SIGTERM"),
            f"KillSignal={one('KillSignal')}")
    stop = unit_seconds(one("TimeoutStopSec") or "")
    c.check(f"unit: TimeoutStopSec {stop} > shutdown_timeout {DEFAULT_SHUTDOWN_MS // 1000} s",
            stop is not None and stop >= DEFAULT_SHUTDOWN_MS // 1000 + KILL_MARGIN_S,
            "a drain would be killed")
    c.check("unit: Restart=on-failure", one("Restart") == "on-failure", f"{one('Restart')}")
    c.check("unit: dedicated or dynamic user",
            one("DynamicUser") == "yes" or (one("User") or "root") != "root", "runs as root")
    c.check("unit: secrets from an EnvironmentFile", bool(svc.get("EnvironmentFile")), "missing")
    nofile = one("LimitNOFILE") or "0"
    c.check(f"unit: LimitNOFILE high ({nofile})",
            nofile == "infinity" or (nofile.isdigit() and int(nofile) >= 65536), "too low")
    for k, want in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                    ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("PrivateDevices", "yes"),
                    ("ProtectKernelTunables", "yes"), ("ProtectKernelModules", "yes"),
                    ("ProtectKernelLogs", "yes"), ("ProtectControlGroups", "yes"),
                    ("RestrictNamespaces", "yes"), ("LockPersonality", "yes"),
                    ("MemoryDenyWriteExecute", "yes"), ("RestrictRealtime", "yes"),
                    ("SystemCallArchitectures", "native"), ("CapabilityBoundingSet", ""),
                    ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX")):
        c.check(f"unit: {k}={want}", one(k) == want, f"{k}={one(k)}")
    filters = " ".join(svc.get("SystemCallFilter") or [])
    c.check("unit: SystemCallFilter=@system-service plus io_uring",
            "@system-service" in filters and
            all(s in filters for s in ("io_uring_setup", "io_uring_enter", "io_uring_register")),
            f"SystemCallFilter {filters!r}")
    c.check("unit: RuntimeDirectory for the Unix socket", bool(one("RuntimeDirectory")),
            "missing")
    c.exit()


def main():
    cmds = {"manifests": (check_manifests, 1), "configs": (write_configs, 2),
            "grafana": (check_grafana, 2), "dockerfile": (check_dockerfile, 2),
            "unit": (check_unit, 1)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) != 2 + cmds[sys.argv[1]][1]:
        sys.stderr.write(__doc__)
        sys.exit(2)
    fn, _ = cmds[sys.argv[1]]
    fn(*sys.argv[2:])


if __name__ == "__main__":
    main()
