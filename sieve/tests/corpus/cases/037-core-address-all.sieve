if address :all :is "to" "carol+lists@example.org" { discard; }
