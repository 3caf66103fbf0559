"""`ansible-galaxy collection build` makes an installable tarball, and the installed collection works."""

from __future__ import annotations

import subprocess

from tests.conftest import COLLECTION, VENV_BIN, ansible_env


def test_build_install_and_use(tmp_path):
    build = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", str(COLLECTION),
                            "--output-path", str(tmp_path)], capture_output=True, text=True, check=True)
    tarballs = list(tmp_path.glob("kubesec-cluster-*.tar.gz"))
    assert len(tarballs) == 1, build.stdout
    install_path = tmp_path / "installed"
    clean = ansible_env(ANSIBLE_COLLECTIONS_PATH=install_path)
    clean.pop("ANSIBLE_CONFIG")  # a clean controller: not the checkout's ansible.cfg
    subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", str(tarballs[0]), "-p",
                    str(install_path)], capture_output=True, text=True, check=True, env=clean, cwd=tmp_path)
    installed = install_path / "ansible_collections" / "kubesec" / "cluster"
    for rel in ("plugins/modules/cis_node_audit.py", "plugins/action/report.py", "data/cis/cis-1.12.yml",
                "data/cis/cis-1.11.yml", "data/schema/cis-catalogue.json",
                "roles/report/templates/report.html.j2", "meta/runtime.yml"):
        assert (installed / rel).is_file(), rel
    assert not (installed / "tests" / "output").exists()
    # The installed copy (not the checkout) runs the audit, catalogue and all.
    env = clean
    node = tmp_path / "node"
    node.mkdir()
    run = subprocess.run([str(VENV_BIN / "ansible"), "localhost", "-c", "local", "-m", "kubesec.cluster.cis_node_audit",
                          "-a", f"root={node}", "-o"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert '"benchmark": "cis-1.12"' in run.stdout
    doc = subprocess.run([str(VENV_BIN / "ansible-doc"), "kubesec.cluster.report"], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert "Merges every findings file" in " ".join(doc.stdout.split())
