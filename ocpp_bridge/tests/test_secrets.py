from ocpp_bridge.protocol.secrets import MASK, masked


def test_authorization_key_is_masked():
    assert masked("ChangeConfiguration", {"key": "AuthorizationKey", "value": "ab" * 20}) == {
        "key": "AuthorizationKey",
        "value": MASK,
    }


def test_other_configuration_is_kept():
    payload = {"key": "HeartbeatInterval", "value": "60"}
    assert masked("ChangeConfiguration", payload) == payload


def test_password_in_a_location_url_is_masked():
    out = masked("GetDiagnostics", {"location": "ftp://diag:s3cret@logs.example/up"})
    assert out["location"] == f"ftp://diag:{MASK}@logs.example/up"
    plain = {"location": "https://fw.example/v2.bin", "retrieveDate": "2026-11-22T00:00:00Z"}
    assert masked("UpdateFirmware", plain) == plain


def test_a_2_0_1_password_in_set_variables_is_masked_and_the_rest_kept():
    payload = {
        "setVariableData": [
            {
                "attributeValue": "s3cret",
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
            },
            {
                "attributeValue": "60",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            },
        ]
    }
    shown = masked("SetVariables", payload)
    assert [item["attributeValue"] for item in shown["setVariableData"]] == [MASK, "60"]
    assert payload["setVariableData"][0]["attributeValue"] == "s3cret"  # what is sent
