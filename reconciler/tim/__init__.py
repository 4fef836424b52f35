"""The Tencent Cloud Chat REST client."""
