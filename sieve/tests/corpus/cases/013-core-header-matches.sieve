if header :matches "subject" "Meeting*Fri?ay" { discard; }
