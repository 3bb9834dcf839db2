if header :matches "subject" "Meeting" { discard; }
