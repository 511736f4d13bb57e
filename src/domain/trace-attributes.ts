/** Names the traces use (README, "Traces"), shared by the workflow and activity sides. */

/** The dbops stage (progress table row) an activity was scheduled by. */
export const STAGE_ATTRIBUTE = 'dbops.stage';
/** The activity header that carries the stage from the workflow to the activity's span. */
export const STAGE_HEADER = 'dbops-stage';
