if header "subject" "meeting on friday" { discard; }
