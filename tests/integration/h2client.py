"""A small HTTP/2 client for the tests, on Debian's python3-h2: one connection
(cleartext or TLS), several streams at once, request bodies sent within the
peer's flow-control windows, and a record of everything the server did
(responses, trailers, resets, GOAWAY, settings). Frames the h2 library would
refuse to build (floods) are written raw with frame()."""

import socket
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings


def frame(ftype, flags, stream_id, payload=b""):
    """One raw HTTP/2 frame (RFC 9113 4.1)."""
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream_id) + payload


class Stream:
    def __init__(self):
        self.headers = None
        self.data = bytearray()
        self.trailers = None
        self.ended = False
        self.reset = None  # error code of a RST_STREAM from the server

    @property
    def status(self):
        return int(self.header(":status")) if self.headers else None

    def header(self, name):
        for k, v in self.headers or []:
            if k == name:
                return v
        return None

    @property
    def done(self):
        return self.ended or self.reset is not None


class H2Client:
    def __init__(self, sock, window=None, ack_data=True):
        self.sock = sock
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        if window is not None:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.ack_data = ack_data
        self.streams = {}
        self.goaway = None      # error code of a GOAWAY from the server
        self.closed = False     # the server closed the TCP connection
        self.remote_settings = {}
        self.error = None       # a protocol error the h2 library found in what we received
        self.flush()

    @classmethod
    def connect(cls, port, host="127.0.0.1", timeout=10.0, **kw):
        s = socket.create_connection((host, port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(s, **kw)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def flush(self):
        data = self.conn.data_to_send()
        if data and not self.closed:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def send_raw(self, data):
        self.sock.sendall(data)

    def request(self, method="GET", path="/", authority="example.com", headers=(), body=None, end=True,
                scheme="http"):
        sid = self.conn.get_next_available_stream_id()
        hs = [(":method", method), (":path", path), (":scheme", scheme), (":authority", authority)] + list(headers)
        self.streams[sid] = Stream()
        self.conn.send_headers(sid, hs, end_stream=body is None and end)
        self.flush()
        if body is not None:
            self.send_body(sid, body, end)
        return sid

    def send_body(self, sid, body, end=True, timeout=30.0):
        view = memoryview(body)
        deadline = time.monotonic() + timeout
        while view:
            room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if room <= 0:
                if time.monotonic() > deadline:
                    raise AssertionError("stream %d: no flow-control window for %.0f s" % (sid, timeout))
                self.pump(0.5)
                if self.streams[sid].done:
                    return
                continue
            self.conn.send_data(sid, bytes(view[:room]))
            view = view[room:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
            self.flush()

    def reset(self, sid, code=8):
        self.conn.reset_stream(sid, error_code=code)
        self.flush()

    def pump(self, timeout=1.0):
        """Reads once (up to timeout) and handles the events; False when closed."""
        if self.closed:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            return True
        except OSError:
            self.closed = True
            return False
        if not data:
            self.closed = True
            return False
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self.error = e
            self.closed = True
            return False
        for ev in events:
            st = self.streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived) and st:
                st.headers = ev.headers
            elif isinstance(ev, h2.events.DataReceived):
                if st:
                    st.data += ev.data
                if self.ack_data and ev.flow_controlled_length:
                    try:
                        self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    except h2.exceptions.StreamClosedError:
                        pass
            elif isinstance(ev, h2.events.TrailersReceived) and st:
                st.trailers = ev.headers
            elif isinstance(ev, h2.events.StreamEnded) and st:
                st.ended = True
            elif isinstance(ev, h2.events.StreamReset) and st:
                st.reset = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = ev.error_code
            elif isinstance(ev, h2.events.RemoteSettingsChanged):
                for k, v in ev.changed_settings.items():
                    self.remote_settings[k] = v.new_value
        self.flush()
        return True

    def wait(self, pred, timeout=20.0, what="condition"):
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for " + what)
            if not self.pump(0.5) and not pred():
                raise AssertionError("connection closed while waiting for %s (%r)" % (what, self.error))
        return True

    def response(self, sid, timeout=20.0):
        st = self.streams[sid]
        self.wait(lambda: st.done, timeout, "stream %d" % sid)
        return st

    def wait_closed(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.pump(0.5)
        return self.closed
