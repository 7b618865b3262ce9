from __future__ import annotations

import re

from rest_framework import serializers

from accounts.models import E164_REGEX, Client, Device


class PhoneField(serializers.CharField):
    """Accepts "+996 700 12-34-56" or "00996..." and stores E.164."""

    def to_internal_value(self, data):
        value = re.sub(r"[\s\-()]", "", super().to_internal_value(data))
        if value.startswith("00"):
            value = "+" + value[2:]
        if not re.fullmatch(E164_REGEX, value):
            raise serializers.ValidationError("Enter the phone in E.164 form, e.g. +996700123456.")
        return value


class OtpRequestIn(serializers.Serializer):
    phone = PhoneField(max_length=32)


class OtpRequestOut(serializers.Serializer):
    expires_in = serializers.IntegerField(help_text="seconds the code stays valid")
    resend_after = serializers.IntegerField(help_text="seconds before another code may be sent")


class OtpVerifyIn(serializers.Serializer):
    phone = PhoneField(max_length=32)
    code = serializers.RegexField(r"^[0-9]{6}$", max_length=6)


class ClientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Client
        fields = ["id", "phone", "name", "email", "language", "status", "created_at"]
        read_only_fields = ["id", "phone", "status", "created_at"]


class TokensOut(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class LoginOut(TokensOut):
    client = ClientSerializer()
    created = serializers.BooleanField(help_text="true when this login created the account")


class RefreshIn(serializers.Serializer):
    refresh = serializers.CharField(max_length=2048)


class DeletionOut(serializers.Serializer):
    status = serializers.CharField()
    deletion_requested_at = serializers.DateTimeField()
    anonymise_after = serializers.DateTimeField()


class WebPushKeys(serializers.Serializer):
    p256dh = serializers.CharField(max_length=200)
    auth = serializers.CharField(max_length=100)


class WebPushSubscription(serializers.Serializer):
    endpoint = serializers.URLField(max_length=1024)
    keys = WebPushKeys()
    expirationTime = serializers.IntegerField(required=False, allow_null=True)  # noqa: N815 - W3C

    def validate_endpoint(self, value: str) -> str:
        if not value.startswith("https://"):
            raise serializers.ValidationError("A Web Push endpoint is an https URL.")
        return value


class DeviceIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Device.Kind.choices)
    token = serializers.CharField(
        max_length=1024, required=False, help_text="FCM registration token (kind=fcm)"
    )
    subscription = WebPushSubscription(
        required=False, help_text="PushSubscription.toJSON() (kind=webpush)"
    )

    def validate(self, attrs):
        if attrs["kind"] == Device.Kind.FCM:
            if not attrs.get("token"):
                raise serializers.ValidationError({"token": "Required for kind=fcm."})
            attrs["subscription"] = None
        else:
            if not attrs.get("subscription"):
                raise serializers.ValidationError({"subscription": "Required for kind=webpush."})
            attrs["token"] = attrs["subscription"]["endpoint"]
        return attrs


class DeviceOut(serializers.ModelSerializer):
    class Meta:
        model = Device
        fields = ["id", "kind", "token", "subscription", "created_at", "updated_at"]
