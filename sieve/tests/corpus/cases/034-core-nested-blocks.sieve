if true { if true { if header :contains "subject" "meeting" { discard; stop; } } }
redirect "never@example.org";
