if not anyof (not allof (true, true), false) { discard; }
