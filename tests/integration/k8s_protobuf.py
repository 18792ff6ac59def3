"""A small hand-written encoder and decoder for the Kubernetes protobuf encoding
(application/vnd.kubernetes.protobuf), independent of sluice's C code, for the
tests: the 4 bytes b"k8s\\x00", then a runtime.Unknown {1: typeMeta {1: apiVersion,
2: kind}, 2: raw, 3: contentEncoding, 4: contentType} whose raw bytes are the
object's message (field numbers from Kubernetes' generated.proto files).

Like Go's generated code, the builders below write every string and number
field they are given, zero or not; pass None to leave a field out."""

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


# ---- wire format ----

def varint(n):
    if n < 0:
        n += 1 << 64  # int32/int64 negatives are ten-byte two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(num, wire):
    return varint(num << 3 | wire)


def f_int(num, n):
    return b"" if n is None else tag(num, 0) + varint(int(n))


def f_bool(num, b):
    return b"" if b is None else tag(num, 0) + varint(1 if b else 0)


def f_bytes(num, data):
    return b"" if data is None else tag(num, 2) + varint(len(data)) + data


def f_str(num, s):
    return b"" if s is None else f_bytes(num, s.encode() if isinstance(s, str) else s)


f_msg = f_bytes  # a message is its encoded bytes, length-delimited


def f_map(num, d, value=f_str):
    """A map<string, V>: one entry message {1: key, 2: value} per item."""
    return b"".join(f_msg(num, f_str(1, k) + value(2, v)) for k, v in (d or {}).items())


def f_strs(num, items):
    return b"".join(f_str(num, s) for s in (items or []))


def f_msgs(num, items):
    return b"".join(f_msg(num, m) for m in (items or []))


def parse(buf):
    """Decodes one message level: {field number: [values]}, a value being an int
    (varint) or bytes (length-delimited). Raises ValueError on bad bytes."""
    out, i = {}, 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = _read_varint(buf, i)
        elif wire == 2:
            n, i = _read_varint(buf, i)
            if i + n > len(buf):
                raise ValueError("length past the end")
            val, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wire)
        out.setdefault(num, []).append(val)
    return out


def _read_varint(buf, i):
    n = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def one(fields, num, default=None):
    """The last value of a field (protobuf's rule for a repeated singular field)."""
    vals = fields.get(num)
    return vals[-1] if vals else default


def text(fields, num, default=None):
    v = one(fields, num)
    return default if v is None else v.decode()


def as_map(fields, num):
    """A map<string, string|bytes> field as a dict (values left as bytes)."""
    out = {}
    for entry in fields.get(num, []):
        e = parse(entry)
        out[text(e, 1, "")] = one(e, 2, b"")
    return out


# ---- envelope ----

def envelope(api_version, kind, raw, content_encoding="", content_type=""):
    """The request body kubectl sends: magic + runtime.Unknown (Go writes the two
    empty strings too)."""
    return MAGIC + f_msg(1, f_str(1, api_version) + f_str(2, kind)) + f_bytes(2, raw) + \
        f_str(3, content_encoding) + f_str(4, content_type)


def unwrap(body):
    """(apiVersion, kind, raw fields) of a protobuf answer."""
    if body[:4] != MAGIC:
        raise ValueError("no k8s\\x00 prefix: %r" % body[:16])
    u = parse(body[4:])
    tm = parse(one(u, 1, b""))
    return text(tm, 1, ""), text(tm, 2, ""), parse(one(u, 2, b""))


# ---- objects (field numbers from k8s.io/api and k8s.io/apimachinery) ----

def object_meta(name=None, namespace="", generate_name="", labels=None, annotations=None,
                resource_version="", finalizers=None):
    """meta/v1 ObjectMeta the way Go writes a fresh one: every string, generation
    0 and an empty creationTimestamp included."""
    return (f_str(1, name) + f_str(2, generate_name) + f_str(3, namespace) + f_str(4, "") + f_str(5, "") +
            f_str(6, resource_version) + f_int(7, 0) + f_msg(8, b"") + f_map(11, labels) +
            f_map(12, annotations) + f_strs(14, finalizers))


def int_or_string(v):
    if isinstance(v, int):
        return f_int(1, 0) + f_int(2, v) + f_str(3, "")
    return f_int(1, 1) + f_int(2, 0) + f_str(3, v)


def service_port(name="", protocol="TCP", port=0, target_port=0, node_port=0, app_protocol=None):
    return (f_str(1, name) + f_str(2, protocol) + f_int(3, port) + f_msg(4, int_or_string(target_port)) +
            f_int(5, node_port) + f_str(6, app_protocol))


def service(meta, ports, selector=None, type_="ClusterIP", cluster_ip=""):
    """core/v1 Service: spec {1 ports, 2 selector, 3 clusterIP, 4 type, 7 sessionAffinity,
    ...} and status {1 loadBalancer {}}, zeros written as Go does."""
    spec = (f_msgs(1, ports) + f_map(2, selector) + f_str(3, cluster_ip) + f_str(4, type_) + f_str(7, "") +
            f_str(8, "") + f_str(10, "") + f_str(11, "") + f_int(12, 0) + f_bool(13, False))
    return f_msg(1, meta) + f_msg(2, spec) + f_msg(3, f_msg(1, b""))


def endpoint(addresses, ready=None, serving=None, terminating=None, hostname=None, node_name=None,
             zone=None, target_ref=None):
    """discovery/v1 Endpoint; conditions are pointers in Go: written only when set."""
    cond = f_bool(1, ready) + f_bool(2, serving) + f_bool(3, terminating)
    ref = None
    if target_ref:
        ref = (f_str(1, target_ref.get("kind", "")) + f_str(2, target_ref.get("namespace", "")) +
               f_str(3, target_ref.get("name", "")) + f_str(4, "") + f_str(5, "") + f_str(6, "") + f_str(7, ""))
    return (f_strs(1, addresses) + f_msg(2, cond) + f_str(3, hostname) + (f_msg(4, ref) if ref else b"") +
            f_str(6, node_name) + f_str(7, zone))


def endpoint_port(name=None, protocol=None, port=None, app_protocol=None):
    return f_str(1, name) + f_str(2, protocol) + f_int(3, port) + f_str(4, app_protocol)


def endpoint_slice(meta, address_type, endpoints, ports):
    return f_msg(1, meta) + f_msgs(2, endpoints) + f_msgs(3, ports) + f_str(4, address_type)


def secret(meta, data=None, type_="", string_data=None, immutable=None):
    return f_msg(1, meta) + f_map(2, data, f_bytes) + f_str(3, type_) + f_map(4, string_data) + \
        f_bool(5, immutable)


def configmap(meta, data=None, binary_data=None, immutable=None):
    return f_msg(1, meta) + f_map(2, data) + f_map(3, binary_data, f_bytes) + f_bool(4, immutable)


def namespace(meta, finalizers=None):
    return f_msg(1, meta) + f_msg(2, f_strs(1, finalizers)) + f_msg(3, f_str(1, ""))


def read_status(body):
    """A meta/v1 Status answer as a dict in its JSON shape."""
    api, kind, st = unwrap(body)
    out = {"apiVersion": api, "kind": kind, "status": text(st, 2), "message": text(st, 3),
           "reason": text(st, 4), "code": one(st, 6)}
    if 5 in st:
        d = parse(one(st, 5))
        out["details"] = {"name": text(d, 1), "group": text(d, 2), "kind": text(d, 3),
                          "causes": [{"reason": text(c, 1), "message": text(c, 2), "field": text(c, 3)}
                                     for c in map(parse, d.get(4, []))]}
    return out


def read_meta(fields):
    """The ObjectMeta of a decoded object (field 1) in its JSON shape; the
    creationTimestamp as seconds since the epoch."""
    m = parse(one(fields, 1, b""))
    ts = parse(one(m, 8, b""))
    return {"name": text(m, 1), "namespace": text(m, 3), "uid": text(m, 5), "resourceVersion": text(m, 6),
            "generation": one(m, 7), "creationTimestamp": one(ts, 1),
            "labels": {k: v.decode() for k, v in as_map(m, 11).items()},
            "annotations": {k: v.decode() for k, v in as_map(m, 12).items()}}
