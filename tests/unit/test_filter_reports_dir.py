"""kubesec.cluster.reports_dir: the default reports folder never lies inside an installed collection."""

import os

from ansible_collections.kubesec.cluster.plugins.filter.paths import FilterModule, reports_dir


def test_project_playbooks_keep_reports_beside_them():
    assert reports_dir("/srv/project/playbooks") == "/srv/project/reports"
    assert reports_dir("/srv/project/playbooks/") == "/srv/project/reports"


def test_collection_playbooks_write_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    installed = "/home/u/.ansible/collections/ansible_collections/kubesec/cluster/playbooks"
    assert reports_dir(installed) == os.path.join(str(tmp_path), "reports")
    # a folder merely named like one is not a collection
    assert reports_dir("/x/ansible_collections/playbooks") == "/x/ansible_collections/reports"


def test_registered_as_a_filter():
    assert FilterModule().filters()["reports_dir"] is reports_dir
