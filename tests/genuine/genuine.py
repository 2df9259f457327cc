"""Genuine conda envs for cenv's tests: a local channel of real conda packages,
indexed and installed by rattler (the conda library behind pixi), laid out as
a shared server has them.

    genuine.py channel CACHE_DIR        build (or reuse) the channel; print its path
    genuine.py install CHANNEL ROOT     install envs into ROOT/envs, cache in ROOT/pkgs
    genuine.py activation PREFIX PATH   rattler's activation of PREFIX, as JSON
    genuine.py rebuild FILE PREFIX CACHE  install the @EXPLICIT FILE into PREFIX
    genuine.py add CHANNEL PREFIX CACHE SPEC...  one more transaction on PREFIX
    genuine.py jupyter CHANNEL ROOT     install the env `jupyter` into ROOT/envs

The channel holds three packages, each a .tar.bz2 with info/index.json,
info/paths.json, info/files and, where needed, info/has_prefix:

- python 3.11, made relocatable from Debian's /usr/bin/python3.11 (libpython is
  linked in statically; it finds its prefix from the lib/python3.11/os.py
  landmark) and a copy of its standard library, with a sitecustomize.py that
  puts site-packages on sys.path (Debian's site.py only knows dist-packages);
- cenv-tool, a bin/ script whose shebang carries the prefix placeholder, a
  text file with the placeholder, activate.d/deactivate.d scripts and an
  env_vars.d file;
- numpy, repackaged from the PyPI manylinux wheel for CPython 3.11;
- ipykernel and jupyter_server with every dependency pip resolves for them,
  each repackaged from its PyPI wheel (console scripts become bin/ scripts
  whose shebang carries the prefix placeholder, as conda-forge's do; a
  wheel's .data/data goes to the prefix, so ipykernel's logos land in
  share/jupyter/kernels/python3).

The installer, not this script, writes conda-meta/, rewrites placeholders and
hard-links the files from its package cache. The channel is cached under
CACHE_DIR keyed by this file's content, so a change here rebuilds it.
"""

import asyncio
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
PYTHON_VERSION = "3.11"
NUMPY_VERSION = "1.26.4"
JUPYTER_REQUIREMENTS = ["ipykernel==6.29.5", "jupyter_server==2.14.2"]
SUBDIR = "linux-64"
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "EXTERNALLY-MANAGED"}


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_package(out_dir, name, version, build, depends, tree, has_prefix=()):
    """Packs the directory `tree` as NAME-VERSION-BUILD.tar.bz2 in out_dir."""
    paths = []
    for root, dirs, files in os.walk(tree):
        dirs.sort()
        for entry in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            full = os.path.join(root, entry)
            rel = os.path.relpath(full, tree)
            record = {"_path": rel}
            if os.path.islink(full):
                record["path_type"] = "softlink"
                target = os.path.realpath(full)
                record["sha256"] = sha256_file(target)
                record["size_in_bytes"] = os.path.getsize(target)
            else:
                record["path_type"] = "hardlink"
                record["sha256"] = sha256_file(full)
                record["size_in_bytes"] = os.path.getsize(full)
            if rel in has_prefix:
                record["prefix_placeholder"] = PLACEHOLDER
                record["file_mode"] = "text"
            paths.append(record)
    paths.sort(key=lambda r: r["_path"])
    index = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": depends,
        "subdir": SUBDIR,
        "arch": "x86_64",
        "platform": "linux",
        "license": "test fixture",
        "timestamp": int(time.time() * 1000),
    }
    info = {
        "info/index.json": json.dumps(index, indent=2).encode(),
        "info/paths.json": json.dumps({"paths": paths, "paths_version": 1}, indent=2).encode(),
        "info/files": "".join(p["_path"] + "\n" for p in paths).encode(),
    }
    if has_prefix:
        info["info/has_prefix"] = "".join(f"{PLACEHOLDER} text {p}\n" for p in sorted(has_prefix)).encode()
    target = os.path.join(out_dir, f"{name}-{version}-{build}.tar.bz2")
    with tarfile.open(target + ".partial", "w:bz2", compresslevel=1) as tar:
        for p in paths:
            tar.add(os.path.join(tree, p["_path"]), arcname=p["_path"], recursive=False)
        for arcname, data in info.items():
            member = tarfile.TarInfo(arcname)
            member.size = len(data)
            member.mtime = int(time.time())
            tar.addfile(member, io.BytesIO(data))
    os.replace(target + ".partial", target)
    return target


def python_tree(work):
    tree = os.path.join(work, "python")
    os.makedirs(os.path.join(tree, "bin"))
    shutil.copy2(f"/usr/bin/python{PYTHON_VERSION}", os.path.join(tree, "bin", f"python{PYTHON_VERSION}"))
    os.symlink(f"python{PYTHON_VERSION}", os.path.join(tree, "bin", "python"))
    os.symlink(f"python{PYTHON_VERSION}", os.path.join(tree, "bin", "python3"))
    stdlib = os.path.join(tree, "lib", f"python{PYTHON_VERSION}")
    shutil.copytree(
        f"/usr/lib/python{PYTHON_VERSION}",
        stdlib,
        symlinks=True,
        ignore=lambda d, names: [
            n for n in names
            if n in STDLIB_SKIP or n.startswith("config-") or n.endswith((".opt-1.pyc", ".opt-2.pyc"))
        ],
    )
    os.makedirs(os.path.join(stdlib, "site-packages"))
    with open(os.path.join(stdlib, "site-packages", "README.txt"), "w") as f:
        f.write("site-packages of the test python package\n")
    # Debian's stdlib has sitecustomize.py as a link to /etc/python3.11/:
    # replace the link, never write through it into the host's file
    sitecustomize = os.path.join(stdlib, "sitecustomize.py")
    if os.path.lexists(sitecustomize):
        os.remove(sitecustomize)
    with open(sitecustomize, "x") as f:
        f.write(
            "# Debian's site.py adds dist-packages only; a conda python uses site-packages.\n"
            "import os, site, sys\n"
            "site.addsitedir(os.path.join(sys.prefix, 'lib', 'python%d.%d' % sys.version_info[:2], 'site-packages'))\n"
        )
    return tree


def tool_tree(work):
    tree = os.path.join(work, "cenv-tool")
    files = {
        "bin/cenv-tool": (
            f"#!{PLACEHOLDER}/bin/python\n"
            "import os, sys\n"
            "config = open(os.path.join(sys.prefix, 'share', 'cenv-tool', 'config.txt')).read().strip()\n"
            "print('cenv-tool running in', sys.prefix, 'with', config)\n"
        ),
        "share/cenv-tool/config.txt": f"prefix={PLACEHOLDER}\n",
        "etc/conda/activate.d/cenv-tool.sh": (
            'export CENV_TOOL_HOME="$CONDA_PREFIX/share/cenv-tool"\n'
            'export CENV_TOOL_ORDER="${CENV_TOOL_ORDER}activate;"\n'
        ),
        "etc/conda/deactivate.d/cenv-tool.sh": "unset CENV_TOOL_HOME\nexport CENV_TOOL_ORDER=\"${CENV_TOOL_ORDER}deactivate;\"\n",
        "etc/conda/env_vars.d/cenv-tool.json": json.dumps({"CENV_TOOL_MODE": "packaged"}) + "\n",
    }
    for rel, text in files.items():
        path = os.path.join(tree, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    os.chmod(os.path.join(tree, "bin", "cenv-tool"), 0o755)
    return tree, {"bin/cenv-tool", "share/cenv-tool/config.txt"}


def numpy_tree(work):
    wheels = os.path.join(work, "wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--implementation", "cp", "--python-version", PYTHON_VERSION,
         "--platform", "manylinux2014_x86_64", "-d", wheels, f"numpy=={NUMPY_VERSION}"],
        check=True,
    )
    wheel = os.path.join(wheels, os.listdir(wheels)[0])
    tree = os.path.join(work, "numpy")
    site = os.path.join(tree, "lib", f"python{PYTHON_VERSION}", "site-packages")
    os.makedirs(site)
    with zipfile.ZipFile(wheel) as z:
        for member in z.infolist():
            target = z.extract(member, site)
            mode = (member.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode)
    return tree


def download_wheels(directory, requirements, deps=True):
    """Wheels for CPython 3.11 on x86_64 Linux (glibc 2.17 to 2.28), from PyPI."""
    platforms = []
    for tag in ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_24_x86_64",
                "manylinux_2_28_x86_64"):
        platforms += ["--platform", tag]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--only-binary=:all:", "--implementation", "cp", "--python-version", PYTHON_VERSION,
         *platforms, "-d", directory, *([] if deps else ["--no-deps"]), *requirements],
        check=True,
    )
    return sorted(os.path.join(directory, w) for w in os.listdir(directory) if w.endswith(".whl"))


CONSOLE_SCRIPT = """#!{placeholder}/bin/python
# -*- coding: utf-8 -*-
import re
import sys
from {module} import {head}
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit({call}())
"""


def wheel_package(out_dir, work, wheel):
    """One conda package from one wheel: site-packages, .data/, console scripts."""
    import configparser
    filename = os.path.basename(wheel)
    dist, version = filename.split("-")[:2]
    name = dist.lower().replace("_", "-")
    tree = os.path.join(work, "wheel-" + name)
    site = os.path.join(tree, "lib", f"python{PYTHON_VERSION}", "site-packages")
    os.makedirs(site)
    has_prefix = set()
    data_prefix = f"{dist}-{version}.data/"
    with zipfile.ZipFile(wheel) as z:
        for member in z.infolist():
            if member.is_dir():
                continue
            path = member.filename
            if path.startswith(data_prefix):
                kind, _, rest = path[len(data_prefix):].partition("/")
                base = {"purelib": site, "platlib": site, "data": tree, "scripts": os.path.join(tree, "bin")}.get(kind)
                if base is None:
                    continue
                target = os.path.join(base, rest)
            else:
                target = os.path.join(site, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            data = z.read(member)
            if path.startswith(data_prefix + "scripts/") and data.startswith(b"#!python"):
                data = f"#!{PLACEHOLDER}/bin/python".encode() + data[len(b"#!python"):]
                has_prefix.add(os.path.relpath(target, tree))
            with open(target, "wb") as f:
                f.write(data)
            mode = (member.external_attr >> 16) & 0o777
            os.chmod(target, mode or 0o644)
        entry_points = [n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt")]
        if entry_points:
            parser = configparser.ConfigParser(delimiters=("=",))
            parser.optionxform = str
            parser.read_string(z.read(entry_points[0]).decode())
            if parser.has_section("console_scripts"):
                os.makedirs(os.path.join(tree, "bin"), exist_ok=True)
                for script, target in parser.items("console_scripts"):
                    module, _, attr = target.partition(":")
                    attr = attr.split("[")[0].strip()
                    path = os.path.join(tree, "bin", script)
                    with open(path, "w") as f:
                        f.write(CONSOLE_SCRIPT.format(placeholder=PLACEHOLDER, module=module.strip(),
                                                      head=attr.split(".")[0], call=attr))
                    os.chmod(path, 0o755)
                    has_prefix.add(os.path.join("bin", script))
    build_package(out_dir, name, version, "py_0", [f"python {PYTHON_VERSION}.*"], tree, has_prefix)
    return name


def build_channel(cache_dir):
    key = sha256_file(__file__)[:16]
    channel = os.path.join(cache_dir, f"channel-{key}")
    if os.path.exists(os.path.join(channel, SUBDIR, "repodata.json")):
        return channel, False
    from rattler.index import index_fs
    os.makedirs(cache_dir, exist_ok=True)
    work = tempfile.mkdtemp(dir=cache_dir, prefix="build-")
    staging = os.path.join(work, "channel")
    out = os.path.join(staging, SUBDIR)
    os.makedirs(out)
    os.makedirs(os.path.join(staging, "noarch"))
    py = subprocess.run([f"/usr/bin/python{PYTHON_VERSION}", "-c", "import platform; print(platform.python_version())"],
                        check=True, capture_output=True, text=True).stdout.strip()
    build_package(out, "python", py, "debian_0", [], python_tree(work))
    tree, has_prefix = tool_tree(work)
    build_package(out, "cenv-tool", "1.0", "0", ["python 3.11.*"], tree, has_prefix)
    build_package(out, "numpy", NUMPY_VERSION, "py311_0", ["python 3.11.*"], numpy_tree(work))
    names = [wheel_package(out, work, w)
             for w in download_wheels(os.path.join(work, "jupyter-wheels"), JUPYTER_REQUIREMENTS)]
    with open(os.path.join(staging, "jupyter-packages.json"), "w") as f:
        json.dump(sorted(names), f)
    asyncio.run(index_fs(staging, write_zst=False, write_shards=False))
    if os.path.exists(channel):
        shutil.rmtree(channel)
    os.replace(staging, channel)
    shutil.rmtree(work)
    return channel, True


async def install(channel, root):
    import rattler
    envs = os.path.join(root, "envs")
    pkgs = os.path.join(root, "pkgs")
    os.makedirs(envs, exist_ok=True)
    os.makedirs(pkgs, exist_ok=True)
    sources = [rattler.Channel("file://" + channel)]
    layouts = {
        "genuine": ["python", "numpy", "cenv-tool"],
        "genuine-py": ["python"],
    }
    for name, specs in layouts.items():
        records = await rattler.solve(sources=sources, specs=specs, platforms=[SUBDIR, "noarch"])
        prefix = os.path.join(envs, name)
        await rattler.install(records, target_prefix=prefix, cache_dir=pkgs, show_progress=False)
    # `conda env config vars set` writes this file; an env carries it on a shared server
    with open(os.path.join(envs, "genuine", "conda-meta", "state"), "w") as f:
        json.dump({"env_vars": {"GENUINE_DATA": "/data/genuine", "OMP_NUM_THREADS": "2",
                                "GENUINE_UNSET": "***unset***"}}, f)


async def install_jupyter(channel, root):
    """The env `jupyter`: python and every package the Jupyter wheels made."""
    import rattler
    with open(os.path.join(channel, "jupyter-packages.json")) as f:
        names = json.load(f)
    records = await rattler.solve(sources=[rattler.Channel("file://" + channel)], specs=["python"] + names,
                                  platforms=[SUBDIR, "noarch"])
    await rattler.install(records, target_prefix=os.path.join(root, "envs", "jupyter"),
                          cache_dir=os.path.join(root, "pkgs"), show_progress=False)


async def rebuild(explicit_file, prefix, cache):
    """Installs what an @EXPLICIT file lists, each archive read by rattler
    (which computes its hashes) and checked against the line's MD5."""
    import rattler
    from urllib.parse import urlparse, unquote
    with open(explicit_file) as f:
        lines = [line.strip() for line in f]
    if "@EXPLICIT" not in lines:
        sys.exit("no @EXPLICIT line")
    records = []
    for line in lines[lines.index("@EXPLICIT") + 1:]:
        if not line or line.startswith("#"):
            continue
        url, _, md5 = line.partition("#")
        path = unquote(urlparse(url).path)
        archive = await rattler.RepoDataRecord.from_package_archive(path)
        with open(path, "rb") as f:
            content = f.read()
        actual = hashlib.md5(content).hexdigest()
        if md5 != actual:
            sys.exit(f"{url}: MD5 {actual}, the file says {md5!r}")
        archive.md5 = bytes.fromhex(actual)
        archive.sha256 = hashlib.sha256(content).digest()
        channel = url.rsplit("/", 2)[0] + "/"
        records.append(rattler.RepoDataRecord(archive, os.path.basename(path), url, channel))
    await rattler.install(records, target_prefix=prefix, cache_dir=cache, show_progress=False)
    return len(records)


async def add(channel, prefix, cache, specs):
    """Installs SPECs into an existing env, as `conda install` would: solved
    with what is installed, then linked as a transaction on the prefix."""
    import glob
    import rattler
    installed = [rattler.PrefixRecord.from_path(p) for p in sorted(glob.glob(os.path.join(prefix, "conda-meta", "*.json")))]
    names = [r.name.normalized for r in installed]
    records = await rattler.solve(sources=[rattler.Channel("file://" + channel)], specs=names + specs,
                                  platforms=[SUBDIR, "noarch"], locked_packages=installed)
    await rattler.install(records, target_prefix=prefix, cache_dir=cache, installed_packages=installed,
                          show_progress=False)
    return sorted(r.name.normalized for r in records if r.name.normalized not in names)


def activation(prefix, path):
    from rattler.shell import ActivationVariables, Shell, activate
    result = activate(prefix, ActivationVariables(current_prefix=None, current_path=path.split(":")), Shell.bash)
    print(json.dumps({"path": [str(p) for p in result.path], "script": result.script}))


def main():
    command = sys.argv[1]
    if command == "channel":
        start = time.time()
        channel, built = build_channel(sys.argv[2])
        print(json.dumps({"channel": channel, "built": built, "seconds": round(time.time() - start, 2)}))
    elif command == "install":
        start = time.time()
        asyncio.run(install(sys.argv[2], sys.argv[3]))
        print(json.dumps({"seconds": round(time.time() - start, 2)}))
    elif command == "rebuild":
        count = asyncio.run(rebuild(sys.argv[2], sys.argv[3], sys.argv[4]))
        print(json.dumps({"packages": count}))
    elif command == "add":
        added = asyncio.run(add(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]))
        print(json.dumps({"added": added}))
    elif command == "jupyter":
        start = time.time()
        asyncio.run(install_jupyter(sys.argv[2], sys.argv[3]))
        print(json.dumps({"seconds": round(time.time() - start, 2)}))
    elif command == "activation":
        activation(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
    # py-rattler's runtime threads can crash the interpreter while it
    # finalizes (PyGILState_Release during shutdown); the work is done by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
