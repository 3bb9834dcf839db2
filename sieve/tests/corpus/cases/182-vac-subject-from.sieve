require "vacation";
vacation :subject "Out of office" :from "Bob <bob@example.net>" "away";
