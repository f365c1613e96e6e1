"""Billing: taking customers' payments. So far the payment gateway (`gateway`: what billing asks
of a payment provider; `paypal`: PayPal's answer to it)."""
