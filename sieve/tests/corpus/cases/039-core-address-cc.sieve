if address :is ["cc", "bcc"] "dave@example.net" { discard; }
