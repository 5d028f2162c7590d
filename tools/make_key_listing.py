"""Write the compact official key listing that `models install` checks downloads against.

Usage (from the repository root, with the golden folder beside the repository):
    python tools/make_key_listing.py ../shared/refldm-golden/official_state_dict_keys.txt \
        ../shared/refldm-golden/official_vqgan_keys.txt refldm_desktop/resources/refldm_official_keys.json

The inputs are `key<TAB>[shape]<TAB>dtype` listings of the authors' full-size model; the
output stores every tensor once and is verified to expand back to exactly the inputs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from refldm_desktop.restore.refldm.listing import make_compact, parse_listing_text

SOURCE = (
    "state_dict of the official LatentDiffusion (configs/refldm.yaml, ChiWeiHsiao/ref-ldm af6690c) and of "
    "taming's VQModel (configs/vqgan.yaml); derived from official_state_dict_keys.txt and official_vqgan_keys.txt"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("refldm_keys", type=Path)
    ap.add_argument("vqgan_keys", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--source", default=SOURCE)
    args = ap.parse_args()
    compact = make_compact(
        parse_listing_text(args.refldm_keys.read_text()), parse_listing_text(args.vqgan_keys.read_text()), args.source
    )
    args.out.write_text(json.dumps(compact, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
