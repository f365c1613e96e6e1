"""Sites: adding and listing them, proving control of a domain, claims and the tracking snippet."""
