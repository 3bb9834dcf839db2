require "vacation";
vacation :addresses ["bob@example.net", "robert@example.net"] :handle "ooo" "away";
