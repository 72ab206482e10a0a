import json
import shutil
import subprocess

import numpy as np
import pytest

from tinydit.noise import Mulberry32, seeded_noise

# The web app's generator, verbatim JavaScript (frontend/src/engine/generation.worker.ts of the real project)
JS = """
function mulberry32(seed){return function(){let t=seed+=0x6D2B79F5;t=Math.imul(t^t>>>15,t|1);
t^=t+Math.imul(t^t>>>7,t|61);return((t^t>>>14)>>>0)/4294967296;};}
const out={};
for (const s of [0,1,42,4294967295]){const r=mulberry32(s);out[s]=Array.from({length:8},()=>r());}
const r=mulberry32(7);const d=new Float32Array(10);
for(let i=0;i<10;i+=2){let u=0,v=0;while(u===0)u=r();while(v===0)v=r();const m=Math.sqrt(-2*Math.log(u));
d[i]=m*Math.cos(2*Math.PI*v);if(i+1<10)d[i+1]=m*Math.sin(2*Math.PI*v);}
out.noise7=Array.from(d);
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def js_values():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the noise must be checked against the web app's JavaScript")
    return json.loads(subprocess.run([node, "-e", JS], capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize("seed", [0, 1, 42, 4294967295])
def test_mulberry32_matches_the_web_apps_javascript(js_values, seed):
    r = Mulberry32(seed)
    assert [r() for _ in range(8)] == js_values[str(seed)]


def test_seeded_noise_matches_javascript_box_muller(js_values):
    got = seeded_noise(7, (10,))
    want = np.array(js_values["noise7"], dtype=np.float32)
    assert np.array_equal(got, want)


def test_noise_is_nchw_and_standard_normal():
    x = seeded_noise(123, (1, 3, 32, 32))
    assert x.shape == (1, 3, 32, 32) and x.dtype == np.float32
    assert abs(float(x.mean())) < 0.1 and abs(float(x.std()) - 1) < 0.1
    assert not np.array_equal(seeded_noise(124, (1, 3, 32, 32)), x)
    assert np.array_equal(seeded_noise(123, (1, 3, 32, 32)), x)
