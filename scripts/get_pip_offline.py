"""Offline stand-in for pip's get-pip.py, used by `ansible-test sanity --requirements`.

ansible-test downloads get-pip.py from a host that is not reachable here; it first looks for a cached copy
in ~/.ansible/test/cache/get_pip_<ver>.py, and scripts/sanity puts this file there. Same arguments as
get-pip: bootstrap pip with ensurepip (in a child process: in-process it sets PIP_CONFIG_FILE=/dev/null
and hides the machine's pip configuration), then install what was asked from the package index.
"""

import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
