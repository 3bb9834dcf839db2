if header :contains ["x-nothing", "to", "cc"] ["zzz", "dave"] { discard; }
