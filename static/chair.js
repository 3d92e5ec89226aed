// The chair console: every action is a form (common.js) and destructive ones ask first.
import { startView } from "./common.js";

startView({ delay: 100 });
