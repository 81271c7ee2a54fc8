// The room list: last activity in the viewer's own time.
import { localizeTimes } from "./times.js";

localizeTimes(document);
