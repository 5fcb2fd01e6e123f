"""What an IPAM is: networks, prefixes, addresses and the rules between them. No I/O."""
