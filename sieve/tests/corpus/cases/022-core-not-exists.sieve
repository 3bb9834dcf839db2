if not exists "x-missing" { discard; }
