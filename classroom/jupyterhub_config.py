# JupyterHub for a class (make classroom, docs/classroom.md): one container of the portable image
# `cloud-workbook:latest` per student, with its own Docker engine, libvirtd and work volume.
#
# Every setting comes from an environment variable (scripts/classroom.sh sets the defaults):
#   WORKBOOK_CLASS_IP            interface the hub listens on (127.0.0.1; another one needs TLS)
#   WORKBOOK_CLASS_PORT          its port (8000)
#   WORKBOOK_CLASS_PROXY_API_PORT  the proxy's REST API on 127.0.0.1 (the port above + 1)
#   WORKBOOK_CLASS_LIST          the class list, a CSV of user names (classroom/class.example.csv)
#   WORKBOOK_CLASS_ADMIN         the instructor's user name, an admin (instructor)
#   WORKBOOK_CLASS_STATE         the hub's state: database, secrets, passwords (.workbook/classroom)
#   WORKBOOK_CLASS_PREFIX        prefix of the containers, volumes and network (cloud-workbook-class)
#   WORKBOOK_CLASS_IMAGE         the students' image (cloud-workbook:latest)
#   WORKBOOK_CLASS_MEM           memory limit per student (6G: 3 students in 24 GiB, 6 GiB left)
#   WORKBOOK_CLASS_CPUS          CPU limit per student (1.0: no student takes more than one core)
#   WORKBOOK_CLASS_IDLE_TIMEOUT  seconds of inactivity before a server is stopped (3600)
#   WORKBOOK_CLASS_MIN_PASSWORD  minimum password length, chosen at first login (8)
#   WORKBOOK_CLASS_PRIVILEGED    auto (probe), 1 (--privileged) or 0 (the equivalent flags)
#   WORKBOOK_CLASS_RUNTIME       an OCI runtime such as sysbox-runc (then no privileged rights)
#   WORKBOOK_CLASS_SSL_CERT, WORKBOOK_CLASS_SSL_KEY   a certificate for https on the hub's port
#   WORKBOOK_CLASS_SESSION       (tests) the workbook session that owns containers and volumes
# The file is read by `jupyterhub -f`; `c` is the hub's configuration object.
import csv
import os
import secrets
import sys
from pathlib import Path

import docker

c = get_config()  # noqa: F821 (provided by jupyterhub)

ROOT = Path(__file__).resolve().parent.parent
env = os.environ.get
IP = env("WORKBOOK_CLASS_IP", "127.0.0.1")
PORT = int(env("WORKBOOK_CLASS_PORT", "8000"))
API_PORT = int(env("WORKBOOK_CLASS_PROXY_API_PORT", str(PORT + 1)))
STATE = Path(env("WORKBOOK_CLASS_STATE", str(ROOT / ".workbook" / "classroom"))).resolve()
PREFIX = env("WORKBOOK_CLASS_PREFIX", "cloud-workbook-class")
IMAGE = env("WORKBOOK_CLASS_IMAGE", "cloud-workbook:latest")
ADMIN = env("WORKBOOK_CLASS_ADMIN", "instructor")
SESSION = env("WORKBOOK_CLASS_SESSION", "")
SESSION_LABEL = "org.cloud-workbook.session"  # helpers.core.session.SESSION_LABEL (not imported: it starts a session)


def class_list(path: Path) -> set[str]:
    """User names of the class list: first column, no header, no comments, no blanks."""
    names = set()
    with open(path, newline="") as fh:
        for row in csv.reader(fh):
            name = row[0].strip().lower() if row else ""
            if name and not name.startswith("#") and name != "username":
                names.add(name)
    return names


STUDENTS = class_list(Path(env("WORKBOOK_CLASS_LIST", str(ROOT / "classroom" / "class.example.csv"))))

# --- State, outside git and readable by root only ------------------------------------------------
STATE.mkdir(parents=True, exist_ok=True)
STATE.chmod(0o700)


def secret_file(name: str) -> str:
    path = STATE / name
    if not path.exists():
        path.touch(0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.ConfigurableHTTPProxy.auth_token = secret_file("proxy_token")
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{API_PORT}"
c.ConfigurableHTTPProxy.should_start = True

# --- The network of the class: the hub's API on its gateway, the students' servers on it ----------
client = docker.from_env(timeout=30)
NETWORK = f"{PREFIX}-net"
labels = {"org.cloud-workbook": "1", "org.cloud-workbook.classroom": PREFIX}
if SESSION:
    labels[SESSION_LABEL] = SESSION
try:
    network = client.networks.get(NETWORK)
except docker.errors.NotFound:
    network = client.networks.create(NETWORK, driver="bridge", labels=labels)
network.reload()
GATEWAY = network.attrs["IPAM"]["Config"][0]["Gateway"]

c.JupyterHub.bind_url = f"{'https' if env('WORKBOOK_CLASS_SSL_CERT') else 'http'}://{IP}:{PORT}/"
c.JupyterHub.hub_bind_url = f"http://{GATEWAY}:{int(env('WORKBOOK_CLASS_HUB_PORT', '8081'))}"
c.JupyterHub.hub_connect_ip = GATEWAY
if env("WORKBOOK_CLASS_SSL_CERT"):
    c.JupyterHub.ssl_cert = env("WORKBOOK_CLASS_SSL_CERT")
    c.JupyterHub.ssl_key = env("WORKBOOK_CLASS_SSL_KEY", "")
c.JupyterHub.cleanup_servers = True  # the hub's stop stops every student's container (their volumes stay)

# --- Authentication: the class list, a password chosen at the first login, one instructor --------
c.JupyterHub.authenticator_class = "firstuseauthenticator.FirstUseAuthenticator"
c.FirstUseAuthenticator.dbm_path = str(STATE / "passwords.dbm")
c.FirstUseAuthenticator.create_users = False  # a name that is not on the list never gets an account
c.FirstUseAuthenticator.min_password_length = int(env("WORKBOOK_CLASS_MIN_PASSWORD", "8"))
c.Authenticator.allowed_users = STUDENTS | {ADMIN}
c.Authenticator.admin_users = {ADMIN}

# --- The students' containers -----------------------------------------------------------------
c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.DockerSpawner.image = IMAGE
c.DockerSpawner.pull_policy = "never"  # the image is built here (make image), never pulled
c.DockerSpawner.prefix = PREFIX
c.DockerSpawner.name_template = "{prefix}-{username}"
c.DockerSpawner.remove = True  # a stopped server's container goes; its named volumes stay
c.DockerSpawner.network_name = NETWORK
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.volumes = {
    f"{PREFIX}-{{username}}-work": "/workbook/work",
    f"{PREFIX}-{{username}}-docker": "/var/lib/docker",
}
# The entrypoint starts the student's engine and libvirtd, then runs this as a child.
c.DockerSpawner.cmd = ["jupyterhub-singleuser"]
c.DockerSpawner.args = ["--allow-root", "--ServerApp.root_dir=/workbook/work"]
c.DockerSpawner.notebook_dir = "/workbook/work"
c.Spawner.default_url = "/lab/tree/notebooks/00-setup-check.ipynb"
c.DockerSpawner.mem_limit = env("WORKBOOK_CLASS_MEM", "6G")
c.DockerSpawner.cpu_limit = float(env("WORKBOOK_CLASS_CPUS", "1.0"))
c.Spawner.start_timeout = 900  # a first start loads the base images into a new engine volume
c.Spawner.http_timeout = 600
c.DockerSpawner.extra_create_kwargs = {"labels": labels}


def engine_rights() -> dict:
    """What the students' containers need for an engine and a hypervisor of their own.

    --privileged where the host accepts it (probed with `true`, as scripts/run-image.sh does),
    else the same rights spelled out; with a runtime such as sysbox-runc, none of them.
    """
    if env("WORKBOOK_CLASS_RUNTIME"):
        return {"runtime": env("WORKBOOK_CLASS_RUNTIME")}
    wanted = env("WORKBOOK_CLASS_PRIVILEGED", "auto")
    if wanted == "auto":
        probe = client.containers.create(IMAGE, entrypoint="true", privileged=True, labels=labels,
                                         name=f"{PREFIX}-probe-{secrets.token_hex(3)}")
        try:
            probe.start()
            wanted = "1"
        except docker.errors.APIError as exc:
            text = str(exc)
            if "operation not permitted" not in text and "unable to apply caps" not in text:
                raise
            print("[classroom] this host refuses --privileged; the students' containers get the "
                  "equivalent rights instead", file=sys.stderr)
            wanted = "0"
        finally:
            probe.remove(force=True, v=True)  # with the anonymous volumes of the image's VOLUME paths
    if wanted == "1":
        return {"privileged": True}
    devices = [f"{d}:{d}:rwm" for d in ("/dev/kvm", "/dev/net/tun") if os.path.exists(d)]
    return {"cap_add": ["ALL"], "cap_drop": ["SYS_RESOURCE"],
            "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
            "device_cgroup_rules": ["a *:* rwm"], "cgroupns": "host", "devices": devices,
            "binds": {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}}}


c.DockerSpawner.extra_host_config = engine_rights()
if "cap_add" in c.DockerSpawner.extra_host_config:
    # --security-opt systempaths=unconfined is the CLI's name for empty masked and read-only
    # /proc paths in the engine's API (docker-py has no argument for it: raw HostConfig keys).
    c.DockerSpawner.extra_create_kwargs = {"labels": labels,
                                           "host_config": {"MaskedPaths": [], "ReadonlyPaths": []}}

# --- Services: the idle culler, and the instructor's read-only view ------------------------------
c.JupyterHub.load_roles = [
    {"name": "idle-culler", "services": ["idle-culler"],
     "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]},
    {"name": "instructor-view", "services": ["instructor-view"],
     "scopes": ["list:users", "read:users", "read:servers"]},
]
c.JupyterHub.services = [
    {"name": "idle-culler",
     "command": [sys.executable, "-m", "jupyterhub_idle_culler",
                 f"--timeout={int(env('WORKBOOK_CLASS_IDLE_TIMEOUT', '3600'))}", "--cull-every=60"]},
    # `python -m classroom.instructor` reads this token from the state folder.
    {"name": "instructor-view", "api_token": secret_file("instructor_view_token")},
]
