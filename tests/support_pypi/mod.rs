//! A made-up `paho-mqtt` wheel for the tests of clients/setup.sh (tests/client_locks.rs,
//! tests/client_releases.rs): no registry is asked for a real one.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context as _};

/// A wheel of a `paho-mqtt` VERSION whose `paho.mqtt` says that version and has a `client`
/// module: enough for `hold.py --version`. Made with Python's zipfile, as setup needs Python.
pub fn make_wheel(dir: &Path, version: &str) -> anyhow::Result<PathBuf> {
    let wheel = dir.join(format!("paho_mqtt-{version}-py3-none-any.whl"));
    let script = r#"
import sys, zipfile
path, version = sys.argv[1], sys.argv[2]
info = f"paho_mqtt-{version}.dist-info"
files = {
    "paho/__init__.py": "",
    "paho/mqtt/__init__.py": f'__version__ = "{version}"\n',
    "paho/mqtt/client.py": "",
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: paho-mqtt\nVersion: {version}\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: mosquitto-matrix-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
with zipfile.ZipFile(path, "w") as z:
    for name, body in files.items():
        z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), body)
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(&wheel).arg(version).output().context("python3 runs")?;
    ensure!(out.status.success(), "making the wheel: {}", String::from_utf8_lossy(&out.stderr));
    Ok(wheel)
}

