"""Importing web server access logs (Apache, NGINX and custom formats) into a site's hits, counted
as GoAccess counts them."""
