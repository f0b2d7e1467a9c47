"""The README's Python example: a Python client and a Python worker through
the C broker, which routes on the clear service name and cannot read them
(examples/python, doc/topologies.md)."""
import os

from conftest import Proc

from test_interop import broker, mdp_hosts, python_example


def test_python_client_and_worker_through_a_broker_that_cannot_read_them(work, procs):
    client_sad, worker_sad = mdp_hosts(work)
    front, back = broker(work, procs)
    worker = Proc(python_example("mdp_worker.py") +
                  ["--sad", worker_sad, "--back", back, "--service", "payments",
                   "--name", "py"], os.path.join(work, "worker.log"))
    procs.append(worker)
    client = Proc(python_example("mdp_client.py") +
                  ["--sad", client_sad, "--front", front, "--service", "payments",
                   "--policy", "payments", "--count", "50", "--timeout-ms", "20000"],
                  os.path.join(work, "client.log"))
    assert client.wait() == 0, client.text()
    out = client.text()
    assert "50 requests, 50 answered, 0 unanswered, 0 answers refused, 1 workers answered" in out, out
    assert "py/1 answered 50" in out
    worker.stop()
    assert "answered 50, refused 0" in worker.text(), worker.text()
    # The broker ran with no SAD: it never held a key to read them with.
    assert "--sad" not in procs[0].p.args
