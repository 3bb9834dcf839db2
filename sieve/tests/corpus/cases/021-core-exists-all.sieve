if exists ["x-priority", "x-missing"] { discard; } else { keep; }
