"""Vectors for the app-login ("device sharing") API's request key, encryption and X-sign, made
with tuya-device-sharing-sdk 0.2.15's own functions (tuya_sharing/customerapi.py) and fixed
inputs: the request id, the nonce and the clock are pinned instead of random.

    pip install tuya-device-sharing-sdk==0.2.15
    python3 make_sharing_vectors.py > sharing-sdk-0.2.15.json
"""
import hashlib
import json
import random

from tuya_sharing import customerapi as c

cases = []
for i, (rid, refresh, token, params, body) in enumerate([
    ("2f1c3a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "rtok0001", "atok0001", {"homeId": "12345"}, None),
    ("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "refresh-XYZ", "access-ABC", None, {"devIds": "a,b"}),
    ("00000000-0000-4000-8000-000000000000", "r", "", None, None),
]):
    random.seed(i)  # _random_nonce draws from `random`
    hash_key = hashlib.md5((rid + refresh).encode()).hexdigest()
    secret = c._secret_generating(rid, "", hash_key)
    q = c._aes_gcm_encrypt(c._form_to_json(params), secret).decode() if params else ""
    b = c._aes_gcm_encrypt(c._form_to_json(body), secret).decode() if body else ""
    headers = {"X-appKey": "HA_3y9q4ak7g4ephrvke", "X-requestId": rid, "X-sid": "", "X-time": "1700000000000"}
    if token:
        headers["X-token"] = token
    cases.append({
        "rid": rid, "refresh_token": refresh, "access_token": token,
        "params": params, "body": body,
        "hash_key": hash_key, "request_key": secret,
        "query_encdata": q, "body_encdata": b,
        "headers": headers, "x_sign": c._restful_sign(hash_key, q, b, headers),
        "plain_reply": json.dumps({"list": [{"id": "bf01", "local_key": "k3y!<&>x"}]}, separators=(",", ":")),
    })
    random.seed(100 + i)
    cases[-1]["encrypted_reply"] = c._aes_gcm_encrypt(cases[-1]["plain_reply"], secret).decode()
print(json.dumps(cases, indent=1))
