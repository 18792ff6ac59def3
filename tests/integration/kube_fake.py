"""A fake Kubernetes API server for the tests of `sluiced --kubernetes` (no real
API server can be installed here). It is written from the documented behaviour
of the real one, and covers only what the syncer uses:

- objects in memory with a uid and a resourceVersion from one global counter
  (the API conventions: "Concurrency Control and Consistency");
- list with `limit` and `continue` (the continue token names where the next page
  starts; an expired token answers 410 Gone), `fieldSelector=type=...` for Secrets;
- watch (`watch=1&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=N`):
  a chunked stream of `{"type","object"}` lines, every event after RV, then new
  ones as they happen, a BOOKMARK every `bookmark_every` seconds, the end after
  timeoutSeconds; a resourceVersion older than the last compaction gets an ERROR
  event whose Status has code 410 ("Efficient detection of changes");
- HTTPS with a server certificate, and client certificates required when a client CA is
  given; bearer-token authentication (401 without the right token); 403 for a kind the test forbids;
  an ERROR event (a 500 Status) for every watch of a kind the test says;
- test controls: compact the event history, drop every open watch, stop and
  start again on the same port (the state kept, as etcd keeps it), count requests.
- GET of one object; PUT of the `status` subresource (only status changes; the
  body's metadata.resourceVersion must be the current one, else 409 Conflict, as
  the API conventions' optimistic concurrency says); a test may have the next
  status writes conflict, as another writer's update between read and write would,
  or fail with a 500; every request may be slowed by a delay the test sets;
- Leases (coordination.k8s.io/v1): GET, POST (409 AlreadyExists when it exists)
  and PUT with the same resourceVersion check, for leader election;
- RBAC, when the test loads a manifest of ClusterRoles and Roles (load_rbac): every
  request is authorised by the verb (get, list, watch, create, update), the API group,
  the resource (`plural` or `plural/status`) and, for a Role, its namespace, as the
  RBAC authorizer does, and refused with 403 Forbidden otherwise (the refusals are
  counted).

Other writes come from the test through Python methods, not HTTP.
"""
import base64
import copy
import json
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# plural -> (group/version prefix, namespaced)
RESOURCES = {
    "namespaces": ("/api/v1", False), "services": ("/api/v1", True), "secrets": ("/api/v1", True),
    "configmaps": ("/api/v1", True),
    "endpointslices": ("/apis/discovery.k8s.io/v1", True),
    "gatewayclasses": ("/apis/gateway.networking.k8s.io/v1", False),
    "gateways": ("/apis/gateway.networking.k8s.io/v1", True),
    "httproutes": ("/apis/gateway.networking.k8s.io/v1", True),
    "grpcroutes": ("/apis/gateway.networking.k8s.io/v1", True),
    "tlsroutes": ("/apis/gateway.networking.k8s.io/v1alpha2", True),
    "tcproutes": ("/apis/gateway.networking.k8s.io/v1alpha2", True),
    "referencegrants": ("/apis/gateway.networking.k8s.io/v1beta1", True),
    "backendtlspolicies": ("/apis/gateway.networking.k8s.io/v1", True),
    "trafficpolicies": ("/apis/gateway.sluice.dev/v1alpha1", True),
    "backends": ("/apis/gateway.sluice.dev/v1alpha1", True),
    "backendpolicies": ("/apis/gateway.sluice.dev/v1alpha1", True),
    "leases": ("/apis/coordination.k8s.io/v1", True),
}


class FakeKube:
    def __init__(self, token="fake-token", bookmark_every=1.0, tls=None):
        self.token = token
        self.tls = tls  # (certificate file, key file, client CA file or None): serve HTTPS
        self.bookmark_every = bookmark_every
        self.lock = threading.Condition()
        self.rv = 100
        self.objects = {plural: {} for plural in RESOURCES}  # plural -> {(ns, name): obj}
        self.events = []  # (rv, plural, type, obj)
        self.compacted = 0  # events at or below this rv are gone
        self.requests = {"list": {}, "watch": {}}
        self.watch_generation = 0  # bumped to drop every open watch
        self.watches_held = False  # new watches wait (as behind a partition) until released
        self.forbidden = set()  # plurals answered 403 (RBAC)
        self.watch_errors = {}  # plural -> the code of an ERROR event every watch of it gets at once
        self.status_writes = []  # (plural, ns, name, status) of every accepted status write, in order
        self.conflicts = 0  # the next this many status writes are answered 409 (another writer came first)
        self.failures = 0  # the next this many status writes are answered 500 (an etcd timeout, say)
        self.delay = 0.0  # seconds every request waits before its answer (a slow API server)
        self.rbac = None  # [(namespace or None, groups, resources, verbs)] when RBAC is enforced
        self.refused = []  # (verb, group, resource, namespace) of every request RBAC refused
        self.server = None
        self.port = None
        self.start()

    # ---- server life ----

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                fake.handle_get(self)

            def do_PUT(self):
                fake.handle_write(self, "PUT")

            def do_POST(self):
                fake.handle_write(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port or 0), Handler)
        self.server.daemon_threads = True
        if self.tls:
            cert, key, client_ca = self.tls
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(cert, key)
            if client_ca:  # client certificates required, as an API server with --client-ca-file checks them
                ctx.load_verify_locations(client_ca)
                ctx.verify_mode = ssl.CERT_REQUIRED
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.drop_watches()
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def kubeconfig(self, path, token=None):
        with open(path, "w") as f:
            f.write("""apiVersion: v1
kind: Config
current-context: fake
contexts:
- name: fake
  context: {cluster: fake, user: tester}
clusters:
- name: fake
  cluster: {server: "%s"}
users:
- name: tester
  user: {token: "%s"}
""" % (self.url, token or self.token))
        return path

    # ---- writes (the test's) ----

    def _event(self, plural, kind, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.events.append((self.rv, plural, kind, copy.deepcopy(obj)))
        self.lock.notify_all()

    def apply(self, plural, obj):
        """Creates or replaces obj (a dict with metadata.name[, namespace])."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        ns = meta.get("namespace", "") if RESOURCES[plural][1] else ""
        if RESOURCES[plural][1]:
            meta["namespace"] = ns or "default"
            ns = meta["namespace"]
        with self.lock:
            old = self.objects[plural].get((ns, meta["name"]))
            meta["uid"] = old["metadata"]["uid"] if old else str(uuid.uuid4())
            meta.setdefault("creationTimestamp", "2026-12-06T00:00:00Z")
            meta["managedFields"] = [{"manager": "kubectl", "operation": "Apply"}]
            # metadata.generation moves with the spec; a write of the main resource keeps the status
            # (the status subresource's), as the real server does for kinds that have one.
            def spec_of(o):
                return {k: v for k, v in o.items() if k not in ("metadata", "status")}
            meta["generation"] = 1 if not old else old["metadata"].get("generation", 1) + (
                spec_of(old) != spec_of(obj))
            if old and "status" in old:
                obj["status"] = copy.deepcopy(old["status"])
            self.objects[plural][(ns, meta["name"])] = obj
            self._event(plural, "MODIFIED" if old else "ADDED", obj)
            return copy.deepcopy(obj)

    def get(self, plural, name, namespace="default"):
        ns = namespace if RESOURCES[plural][1] else ""
        with self.lock:
            obj = self.objects[plural].get((ns, name))
            return copy.deepcopy(obj) if obj else None

    def set_status(self, plural, name, status_doc, namespace="default"):
        """Replaces an object's status, as another controller would."""
        ns = namespace if RESOURCES[plural][1] else ""
        with self.lock:
            obj = self.objects[plural][(ns, name)]
            obj["status"] = copy.deepcopy(status_doc)
            self._event(plural, "MODIFIED", obj)

    def delete(self, plural, name, namespace="default"):
        ns = namespace if RESOURCES[plural][1] else ""
        with self.lock:
            obj = self.objects[plural].pop((ns, name))
            self._event(plural, "DELETED", obj)

    def compact(self):
        """Forgets the event history: a watch from before now gets 410 Gone."""
        with self.lock:
            self.compacted = self.rv
            self.events = []

    def drop_watches(self):
        with self.lock:
            self.watch_generation += 1
            self.lock.notify_all()

    def hold_watches(self):
        """Drops every watch and keeps new ones waiting until release_watches(), so
        that what changes meanwhile is certain to be missed by the watchers."""
        with self.lock:
            self.watches_held = True
            self.watch_generation += 1
            self.lock.notify_all()

    def release_watches(self):
        with self.lock:
            self.watches_held = False
            self.lock.notify_all()

    def count(self, what, plural):
        with self.lock:
            return self.requests[what].get(plural, 0)

    # ---- reads (the syncer's) ----

    def _route(self, path):
        """(plural, namespace or None) of a collection path, or None."""
        for plural, (prefix, namespaced) in RESOURCES.items():
            if path == "%s/%s" % (prefix, plural):
                return plural, None
            if namespaced and path.startswith(prefix + "/namespaces/") and path.endswith("/" + plural):
                return plural, path[len(prefix) + len("/namespaces/"):-len(plural) - 1]
        return None

    @staticmethod
    def _selected(obj, query):
        sel = query.get("fieldSelector", [""])[0]
        if sel.startswith("type="):
            return obj.get("type") == sel[len("type="):]
        return True

    def _route_item(self, path):
        """(plural, namespace, name, subresource or None) of an object's path, or None."""
        for plural, (prefix, namespaced) in RESOURCES.items():
            if namespaced:
                head = prefix + "/namespaces/"
                if not path.startswith(head):
                    continue
                parts = path[len(head):].split("/")
                if len(parts) in (3, 4) and parts[1] == plural:
                    return plural, parts[0], parts[2], parts[3] if len(parts) == 4 else None
            else:
                head = "%s/%s/" % (prefix, plural)
                if path.startswith(head):
                    parts = path[len(head):].split("/")
                    if len(parts) in (1, 2):
                        return plural, "", parts[0], parts[1] if len(parts) == 2 else None
        return None

    def load_rbac(self, manifest_text):
        """Enforces the ClusterRoles and Roles of a YAML manifest (their bindings are assumed)."""
        import yaml
        rules = []
        for doc in yaml.safe_load_all(manifest_text):
            if doc and doc.get("kind") in ("ClusterRole", "Role"):
                ns = doc["metadata"].get("namespace") if doc["kind"] == "Role" else None
                for r in doc.get("rules", []):
                    rules.append((ns, set(r.get("apiGroups", [])), set(r.get("resources", [])), set(r.get("verbs", []))))
        self.rbac = rules

    def _rbac_allows(self, h, method):
        u = urlparse(h.path)
        query = parse_qs(u.query)
        item, collection = self._route_item(u.path), self._route(u.path)
        if collection:
            plural, ns = collection
            verb = {"GET": "watch" if query.get("watch", [""])[0] in ("1", "true") else "list",
                    "POST": "create"}.get(method, "?")
            resource = plural
        elif item:
            plural, ns, _, sub = item
            verb = {"GET": "get", "PUT": "update"}.get(method, "?")
            resource = plural + ("/" + sub if sub else "")
        else:
            return True  # (answered 404 later)
        prefix = RESOURCES[plural][0]
        group = "" if prefix == "/api/v1" else prefix.split("/")[2]
        for rule_ns, groups, resources, verbs in self.rbac:
            if (rule_ns is None or rule_ns == ns) and group in groups and resource in resources and verb in verbs:
                return True
        self.refused.append((verb, group, resource, ns))
        self._reply(h, 403, status(403, "Forbidden", '%s "%s" is forbidden: cannot %s resource in API group "%s"' %
                                   (resource, "", verb, group)))
        return False

    def _authorised(self, h, method="GET"):
        if self.delay:
            time.sleep(self.delay)
        if self.token and h.headers.get("Authorization") != "Bearer " + self.token:
            self._reply(h, 401, status(401, "Unauthorized", "Unauthorized"))
            return False
        return self.rbac is None or self._rbac_allows(h, method)

    def handle_write(self, h, method):
        body = h.rfile.read(int(h.headers.get("Content-Length", "0") or 0))
        if not self._authorised(h, method):
            return
        try:
            doc = json.loads(body)
        except ValueError:
            return self._reply(h, 400, status(400, "BadRequest", "the body is not JSON"))
        path = urlparse(h.path).path
        item = self._route_item(path)
        collection = self._route(path)
        with self.lock:
            if method == "POST" and collection and collection[0] == "leases" and collection[1]:
                meta = doc.setdefault("metadata", {})
                key = (collection[1], meta.get("name", ""))
                if key in self.objects["leases"]:
                    return self._reply(h, 409, status(409, "AlreadyExists", 'leases "%s" already exists' % key[1]))
                meta["namespace"], meta["uid"] = key[0], str(uuid.uuid4())
                self.objects["leases"][key] = doc
                self._event("leases", "ADDED", doc)
                return self._reply(h, 201, doc)
            if method != "PUT" or not item:
                return self._reply(h, 405, status(405, "MethodNotAllowed", "not supported by the fake"))
            plural, ns, name, sub = item
            if (plural == "leases") != (sub is None) or sub not in (None, "status"):
                return self._reply(h, 405, status(405, "MethodNotAllowed", "not supported by the fake"))
            obj = self.objects[plural].get((ns, name))
            if obj is None:
                return self._reply(h, 404, status(404, "NotFound", '%s "%s" not found' % (plural, name)))
            sent_rv = doc.get("metadata", {}).get("resourceVersion")
            if sub == "status" and self.failures > 0:
                self.failures -= 1
                return self._reply(h, 500, status(500, "InternalError", "etcdserver: request timed out"))
            if sub == "status" and self.conflicts > 0:
                self.conflicts -= 1
                self._event(plural, "MODIFIED", obj)  # (another writer's update: a new resourceVersion)
            if sent_rv != obj["metadata"]["resourceVersion"]:
                return self._reply(h, 409, status(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the '
                                                  'object has been modified; please apply your changes to the latest '
                                                  'version and try again' % (plural, name)))
            if sub == "status":
                obj["status"] = doc.get("status", {})
                self.status_writes.append((plural, ns, name, copy.deepcopy(obj["status"])))
            else:
                doc["metadata"]["uid"] = obj["metadata"]["uid"]
                obj = doc
                self.objects[plural][(ns, name)] = obj
            self._event(plural, "MODIFIED", obj)
            return self._reply(h, 200, obj)

    def handle_get(self, h):
        if not self._authorised(h):
            return
        u = urlparse(h.path)
        query = parse_qs(u.query)
        item = self._route_item(u.path)
        if item and item[3] is None and not self._route(u.path):
            plural, ns, name, _ = item
            with self.lock:
                obj = copy.deepcopy(self.objects[plural].get((ns, name)))
            if obj is None:
                return self._reply(h, 404, status(404, "NotFound", '%s "%s" not found' % (plural, name)))
            return self._reply(h, 200, obj)
        route = self._route(u.path)
        if not route:
            return self._reply(h, 404, status(404, "NotFound", "the server could not find the requested resource"))
        plural, ns = route
        if plural in self.forbidden:
            return self._reply(h, 403, status(403, "Forbidden", "%s is forbidden: User cannot list resource" % plural))
        if query.get("watch", [""])[0] in ("1", "true"):
            return self._watch(h, plural, ns, query)
        return self._list(h, plural, ns, query)

    def _list(self, h, plural, ns, query):
        limit = int(query.get("limit", ["0"])[0] or 0)
        cont = query.get("continue", [""])[0]
        with self.lock:
            self.requests["list"][plural] = self.requests["list"].get(plural, 0) + 1
            start_after, list_rv = "", self.rv
            if cont:
                token = json.loads(base64.urlsafe_b64decode(cont))
                if token["rv"] < self.compacted:
                    return self._reply(h, 410, status(410, "Expired", "The provided continue parameter is too old"))
                start_after, list_rv = token["after"], token["rv"]
            keys = sorted(k for k in self.objects[plural] if ns is None or k[0] == ns)
            keys = [k for k in keys if "/".join(k) > start_after]
            items = [copy.deepcopy(self.objects[plural][k]) for k in keys
                     if self._selected(self.objects[plural][k], query)]
        meta = {"resourceVersion": str(list_rv)}
        if limit and len(items) > limit:
            items = items[:limit]
            last = items[-1]["metadata"]
            after = "%s/%s" % (last.get("namespace", ""), last["name"])
            meta["continue"] = base64.urlsafe_b64encode(json.dumps({"rv": list_rv, "after": after}).encode()).decode()
        for it in items:  # (a list's items carry no kind, as the real server's)
            it.pop("kind", None)
            it.pop("apiVersion", None)
        self._reply(h, 200, {"kind": "List", "apiVersion": "v1", "metadata": meta, "items": items})

    def _watch(self, h, plural, ns, query):
        since = int(query.get("resourceVersion", ["0"])[0] or 0)
        timeout = float(query.get("timeoutSeconds", ["300"])[0])
        bookmarks = query.get("allowWatchBookmarks", [""])[0] in ("1", "true")
        with self.lock:
            self.requests["watch"][plural] = self.requests["watch"].get(plural, 0) + 1
            held_until = time.monotonic() + 30  # (bounded: a test that forgets to release still ends)
            while self.watches_held and time.monotonic() < held_until:
                self.lock.wait(timeout=0.1)
            generation = self.watch_generation
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

        def send(doc):
            data = (json.dumps(doc) + "\n").encode()
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            h.wfile.flush()

        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + self.bookmark_every
        try:
            if plural in self.watch_errors:
                code = self.watch_errors[plural]
                send({"type": "ERROR", "object": status(code, "InternalError", "etcdserver: request timed out")})
                h.wfile.write(b"0\r\n\r\n")
                return
            with self.lock:
                if since and since < self.compacted:
                    send({"type": "ERROR", "object": status(410, "Expired", "too old resource version: %d (%d)" %
                                                            (since, self.compacted))})
                    h.wfile.write(b"0\r\n\r\n")
                    return
            while time.monotonic() < deadline:
                with self.lock:
                    if generation != self.watch_generation:
                        h.close_connection = True
                        return  # dropped: no end chunk, as a broken connection
                    upto = self.rv  # every event of this kind up to here is sent below
                    pending = [(rv, t, o) for rv, p, t, o in self.events if p == plural and rv > since and
                               (ns is None or o["metadata"].get("namespace") == ns) and self._selected(o, query)]
                    if not pending and upto == since:
                        self.lock.wait(timeout=0.1)
                for rv, t, o in pending:
                    if generation != self.watch_generation:  # (dropped: at once, as a broken connection)
                        h.close_connection = True
                        return
                    send({"type": t, "object": o})
                since = upto
                if bookmarks and time.monotonic() >= next_bookmark:
                    send({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": str(since)}}})
                    next_bookmark = time.monotonic() + self.bookmark_every
            h.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _reply(h, code, doc):
        body = json.dumps(doc).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
