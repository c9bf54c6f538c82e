"""Ground truth in parallel: ``truth.loo_refits`` gives the same numbers on a real Dask cluster
(joblib's "dask" backend) as in this process, and the CLI's ``--jobs N`` gives the same CSV as
``--jobs 1`` with a progress bar on stderr from 6 refits on.

The references are the serial refits (n_jobs=1), which tests/test_contract.py and
tests/test_cli.py check against scikit-learn and exact ridge solves."""
import csv

import joblib
import numpy as np
import pytest

from mpe_teach import MLP, LogisticRegression, Sensitivity
from mpe_teach.datasets import breast_cancer, digits
from mpe_teach.truth import QUIET_BELOW, loo_refits
from conftest import run_cli as _run


@pytest.fixture(scope="module")
def problems():
    """(model, sensitivity, rows): logistic regression on breast cancer (12 rows) and a small
    MLP on the digits (4 rows), the most sensitive rows of each."""
    d = breast_cancer()
    logistic = LogisticRegression(delta=1.0).fit(d.X_train, d.y_train)
    g = digits(n_train=120)
    mlp = MLP(hidden=(6,), delta=1.0, seed=0).fit(g.X_train, g.y_train)
    out = []
    for model, m in ((logistic, 12), (mlp, 4)):
        sens = Sensitivity(model)
        out.append((model, sens, np.argsort(-sens.sensitivities(), kind="stable")[:m]))
    return out


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_refits_on_a_dask_cluster_equal_the_serial_ones(processes, problems):
    pytest.importorskip("distributed")                    # a guard: the dev extra installs it
    from distributed import Client, LocalCluster, get_task_stream

    serial = [loo_refits(model, rows, sensitivity=sens, n_jobs=1, progress=False)
              for model, sens, rows in problems]
    # 2 workers on this machine only: loopback TCP for processes (in-process transport
    # otherwise), no dashboard
    where = {"host": "127.0.0.1"} if processes else {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=processes,
                      dashboard_address=None, **where) as cluster, Client(cluster) as client:
        workers = set(client.scheduler_info()["workers"])
        assert len(workers) == 2
        with joblib.parallel_config(backend="dask"), get_task_stream(client) as stream:
            assert joblib.effective_n_jobs(-1) == 2       # the cluster's workers
            on_dask = [loo_refits(model, rows, sensitivity=sens, n_jobs=-1, progress=False)
                       for model, sens, rows in problems]
    assert stream.data and {t["worker"] for t in stream.data} <= workers   # ran on the cluster
    for (one, ok1), (dask, ok2) in zip(serial, on_dask):
        assert ok1.all() and ok2.all()
        np.testing.assert_array_equal(dask, one)           # the same computation, bit for bit


def _table(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_cli_jobs_gives_the_same_csv_with_a_progress_bar(cancer_csv, capsys, tmp_path):
    K = 8
    args = ["sensitivity", cancer_csv, "--target", "target", "--model", "logistic", "--truth", K]
    code1, out1, err1 = _run(capsys, *args, "--jobs", 1, "--out", tmp_path / "one.csv")
    code2, out2, err2 = _run(capsys, *args, "--jobs", 2, "--out", tmp_path / "two.csv")
    assert code1 == code2 == 0, err1 + err2
    one, two = _table(tmp_path / "one.csv"), _table(tmp_path / "two.csv")
    assert one == two                                      # every cell, as written
    header = one[0]
    assert sum(r[header.index("loo_true_0")] != "" for r in one[1:]) == K
    for err in (err1, err2):                               # tqdm on stderr: "… 0/8 [00:00 …"
        assert "retraining without each example" in err and f"/{K} [" in err
    # the summary is the same apart from the time taken
    drop_time = lambda text: [l for l in text.splitlines() if "time" not in l and " in " not in l
                              and "written" not in l]
    assert drop_time(out1) == drop_time(out2)


def test_cli_no_progress_bar_below_the_threshold(cancer_csv, capsys, tmp_path):
    code, _, err = _run(capsys, "sensitivity", cancer_csv, "--target", "target", "--model",
                        "logistic", "--truth", QUIET_BELOW - 1, "--jobs", 2)
    assert code == 0
    assert "retraining" not in err and err.strip() == ""
