"""Every request on the nb2pipe comm gets its reply, even when answering it fails in a way
nb2pipe did not foresee: the panel waits for the reply (a run from the panel would hang)."""
from nb2pipe.comm import CommServer
from nb2pipe.engine import Engine
from nb2pipe.store import Store


class FakeComm:
    """What the comm server uses of an ipykernel comm: an id, send, on_msg, on_close."""
    comm_id = "c1"

    def __init__(self):
        self.sent, self.handler = [], None

    def send(self, data):
        self.sent.append(data)

    def on_msg(self, fn):
        self.handler = fn

    def on_close(self, fn):
        pass


def test_a_request_whose_answer_fails_unexpectedly_still_gets_a_reply(tmp_path, monkeypatch):
    engine = Engine(Store(str(tmp_path / ".nb2pipe")), tmp_path)
    server = CommServer(engine)
    comm = FakeComm()
    server._on_open(comm, {"content": {"data": {}}})

    def broken_plan(*a, **kw):
        raise RuntimeError("planner broke")
    monkeypatch.setattr(engine, "plan", broken_plan)
    comm.sent.clear()
    comm.handler({"content": {"data": {"type": "status", "id": "r1"}}})
    replies = [m for m in comm.sent if m.get("type") == "reply"]
    assert [(r["id"], r["ok"]) for r in replies] == [("r1", False)]
    assert replies[0]["message"] == "nb2pipe could not answer `status`: RuntimeError: planner broke"
    server.close()
