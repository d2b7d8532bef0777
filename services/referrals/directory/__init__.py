"""The service directory, in Open Referral HSDS 3.0 terms."""
